# Module registry. Every library module lives in lib/<name>/ (or
# lib/<group>/<name>/) and describes itself in a module.cmake file with one
# devsys_module() call, so modules can be added without touching shared
# build files.
#
#   devsys_module(NAME git
#                 SOURCES repo.c mirror.c        # relative to the module folder
#                 PKG libgit2                     # pkg-config modules it needs
#                 REQUIRES core                   # other devsys modules
#                 INIT devsys__git_global_init    # int fn(void), called by devsys_init()
#                 SHUTDOWN devsys__git_global_shutdown)
set(DEVSYS_CORE_MODULES core workspace task)

function(devsys_module_enabled name out)
  if(name IN_LIST DEVSYS_CORE_MODULES OR NOT DEVSYS_MODULES OR name IN_LIST DEVSYS_MODULES)
    set(${out} TRUE PARENT_SCOPE)
  else()
    set(${out} FALSE PARENT_SCOPE)
  endif()
endfunction()

function(devsys_module)
  cmake_parse_arguments(M "" "NAME;INIT;SHUTDOWN" "SOURCES;PKG;REQUIRES" ${ARGN})
  set_property(GLOBAL APPEND PROPERTY DEVSYS_ALL_MODULES ${M_NAME})
  devsys_module_enabled(${M_NAME} enabled)
  if(NOT enabled)
    return()
  endif()
  foreach(req IN LISTS M_REQUIRES)
    devsys_module_enabled(${req} req_enabled)
    if(NOT req_enabled)
      message(FATAL_ERROR "devsys module '${M_NAME}' requires module '${req}': add it to DEVSYS_MODULES")
    endif()
  endforeach()
  list(TRANSFORM M_SOURCES PREPEND "${CMAKE_CURRENT_LIST_DIR}/")
  set_property(GLOBAL APPEND PROPERTY DEVSYS_SOURCES ${M_SOURCES})
  set_property(GLOBAL APPEND PROPERTY DEVSYS_PKGS ${M_PKG})
  set_property(GLOBAL APPEND PROPERTY DEVSYS_ENABLED_MODULES ${M_NAME})
  if(M_INIT)
    set_property(GLOBAL APPEND PROPERTY DEVSYS_MODULE_HOOKS "${M_NAME}|${M_INIT}|${M_SHUTDOWN}")
  endif()
endfunction()

# TRUE unless <name> is a library module left out of this build (call after
# lib/ was added). Folders named after no module (e.g. tests/devsysd) are
# always built; folders named after a module follow that module.
function(devsys_module_built name out)
  get_property(mods GLOBAL PROPERTY DEVSYS_ENABLED_MODULES)
  get_property(all GLOBAL PROPERTY DEVSYS_ALL_MODULES)
  if(name IN_LIST mods OR NOT name IN_LIST all)
    set(${out} TRUE PARENT_SCOPE)
  else()
    set(${out} FALSE PARENT_SCOPE)
  endif()
endfunction()

# Turn a pkg-config module name into a CMake-safe prefix (libgit2 -> LIBGIT2).
function(devsys_pkg_prefix pkg out)
  string(TOUPPER "${pkg}" up)
  string(REGEX REPLACE "[^A-Z0-9]" "_" up "${up}")
  set(${out} "DEVSYS_PKG_${up}" PARENT_SCOPE)
endfunction()

# Generates lib/modules.c: the init/shutdown hook table devsys_init() walks.
function(devsys_generate_module_hooks out_file)
  get_property(hooks GLOBAL PROPERTY DEVSYS_MODULE_HOOKS)
  set(decls "")
  set(rows "")
  foreach(h IN LISTS hooks)
    string(REPLACE "|" ";" parts "${h}")
    list(GET parts 0 name)
    list(GET parts 1 init)
    list(GET parts 2 shut)
    string(APPEND decls "int ${init}(void);\n")
    if(shut)
      string(APPEND decls "void ${shut}(void);\n")
    else()
      set(shut "NULL")
    endif()
    string(APPEND rows "\t{ \"${name}\", ${init}, ${shut} },\n")
  endforeach()
  configure_file("${PROJECT_SOURCE_DIR}/cmake/modules.c.in" "${out_file}" @ONLY)
endfunction()

# Generates include/devsys/features.h: one DEVSYS_FEATURE_<MODULE> per enabled
# module and DEVSYS_FEATURES, the sorted names; devsys_features() returns the
# same string from the library (lib/core/global.c).
function(devsys_generate_features out_file)
  get_property(mods GLOBAL PROPERTY DEVSYS_ENABLED_MODULES)
  list(REMOVE_DUPLICATES mods)
  list(SORT mods)
  set(defines "")
  foreach(m IN LISTS mods)
    string(TOUPPER "${m}" up)
    string(REGEX REPLACE "[^A-Z0-9]" "_" up "${up}")
    string(APPEND defines "#define DEVSYS_FEATURE_${up} 1\n")
  endforeach()
  list(JOIN mods " " DEVSYS_FEATURES_STRING)
  set(DEVSYS_FEATURES_DEFINES "${defines}")
  configure_file("${PROJECT_SOURCE_DIR}/include/devsys/features.h.in" "${out_file}" @ONLY)
endfunction()
