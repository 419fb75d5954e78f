# Task specs: YAML/JSON loading with positions, the embedded canonical task
# schema (specs/task.schema.json) and task-spec validation.
devsys_module(NAME spec
  SOURCES spec.c yaml.c
  PKG yaml-0.1
  REQUIRES core schema
  INIT devsys__spec_global_init
  SHUTDOWN devsys__spec_global_shutdown)
devsys_module_enabled(spec _devsys_spec_on)
if(_devsys_spec_on)
  include("${CMAKE_CURRENT_LIST_DIR}/../schema/embed.cmake")
  devsys_embed_files("${CMAKE_CURRENT_BINARY_DIR}/spec_task_schema.c"
    devsys__task_schema_json "${PROJECT_SOURCE_DIR}/specs/task.schema.json")
  set_property(GLOBAL APPEND PROPERTY DEVSYS_SOURCES "${CMAKE_CURRENT_BINARY_DIR}/spec_task_schema.c")
endif()
