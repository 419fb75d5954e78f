devsys_add_fuzzer(NAME record_folder)
