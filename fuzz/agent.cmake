devsys_add_fuzzer(NAME agent_events)
devsys_add_fuzzer(NAME agent_session)
