devsys_add_fuzzer(NAME secrets_mask)
