devsys_add_fuzzer(NAME config_yaml)
