devsys_add_fuzzer(NAME report_junit)
