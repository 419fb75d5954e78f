devsys_add_fuzzer(NAME task_id)
