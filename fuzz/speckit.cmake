devsys_add_fuzzer(NAME speckit_spec)
devsys_add_fuzzer(NAME speckit_plan)
devsys_add_fuzzer(NAME speckit_tasks)
devsys_add_fuzzer(NAME speckit_checklist)
