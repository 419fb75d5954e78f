# Coding agent adapters: the kinds a spec's agent.kind names (command,
# opencode, plug-ins), the event stream, the agent's usage and budgets.
devsys_module(NAME agent SOURCES agent.c opencode/opencode.c opencode/events.c
  PKG jansson
  REQUIRES core spec task config runner
  INIT devsys__agent_global_init SHUTDOWN devsys__agent_global_shutdown)
