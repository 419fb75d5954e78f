# The document model, the JSON reader and the JSON Schema validator.
devsys_module(NAME schema
  SOURCES doc.c json.c uri.c format.c compile.c validate.c
  PKG libpcre2-8
  REQUIRES core)
devsys_module_enabled(schema _devsys_schema_on)
if(_devsys_schema_on)
  include("${CMAKE_CURRENT_LIST_DIR}/embed.cmake")
  devsys_embed_files("${CMAKE_CURRENT_BINARY_DIR}/schema_meta.c"
    devsys__meta_draft7 "${CMAKE_CURRENT_LIST_DIR}/meta/draft7.json"
    devsys__meta_draft2020_12 "${CMAKE_CURRENT_LIST_DIR}/meta/draft2020-12.json"
    devsys__meta_vocabularies "${CMAKE_CURRENT_LIST_DIR}/meta/vocabularies.json")
  set_property(GLOBAL APPEND PROPERTY DEVSYS_SOURCES "${CMAKE_CURRENT_BINARY_DIR}/schema_meta.c")
endif()
