# Warning and sanitizer flags for everything the project compiles.
set(DEVSYS_WARNING_FLAGS -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion
    -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral)
set(DEVSYS_CXX_WARNING_FLAGS -Wall -Wextra)
add_compile_options("$<$<COMPILE_LANGUAGE:C>:${DEVSYS_WARNING_FLAGS}>")
add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:${DEVSYS_CXX_WARNING_FLAGS}>")
if(DEVSYS_WERROR)
  add_compile_options(-Werror)
endif()
add_compile_options(-g)
if(DEVSYS_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(DEVSYS_FUZZ)
  # Instrument everything (the library too) for libFuzzer's coverage.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
