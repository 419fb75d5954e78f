devsys_add_fuzzer(NAME docker_demux)
devsys_add_fuzzer(NAME docker_tar)
devsys_add_fuzzer(NAME docker_pathstat)
