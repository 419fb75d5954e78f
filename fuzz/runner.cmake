devsys_add_fuzzer(NAME runner_quote)
