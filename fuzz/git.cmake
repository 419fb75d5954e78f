devsys_add_fuzzer(NAME git_refname)
devsys_add_fuzzer(NAME git_url)
devsys_add_fuzzer(NAME git_known_hosts)
devsys_add_fuzzer(NAME git_event)
