devsys_add_fuzzer(NAME policy_glob)
