devsys_add_fuzzer(NAME spec_yaml)
devsys_add_fuzzer(NAME spec_json)
devsys_add_fuzzer(NAME spec_validate)
