# Installation: headers, libdevsys.so.1 + libdevsys.a, devsys.pc, and the
# CMake package (find_package(devsys 1 CONFIG) -> devsys::devsys).
include(CMakePackageConfigHelpers)

install(FILES "${PROJECT_SOURCE_DIR}/include/devsys.h" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/devsys" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(FILES "${PROJECT_BINARY_DIR}/include/devsys/version.h" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/devsys)
install(FILES "${PROJECT_BINARY_DIR}/include/devsys/features.h" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/devsys)

install(TARGETS devsys devsys_static EXPORT devsysTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT devsysTargets NAMESPACE devsys:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/devsys)

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/devsysConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/devsysConfig.cmake" INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/devsys)
write_basic_package_version_file("${PROJECT_BINARY_DIR}/devsysConfigVersion.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES "${PROJECT_BINARY_DIR}/devsysConfig.cmake" "${PROJECT_BINARY_DIR}/devsysConfigVersion.cmake"
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/devsys)

# Relocatable: prefix is derived from where the .pc file is installed, so
# `cmake --install --prefix X` works without reconfiguring.
file(RELATIVE_PATH DEVSYS_PC_PREFIX_FROM_PCDIR "/root/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/root")
configure_file("${PROJECT_SOURCE_DIR}/pkgconfig/devsys.pc.in" "${PROJECT_BINARY_DIR}/devsys.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/devsys.pc" DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

if(EXISTS "${PROJECT_SOURCE_DIR}/specs/task.schema.json")
  install(FILES "${PROJECT_SOURCE_DIR}/specs/task.schema.json" DESTINATION ${CMAKE_INSTALL_DATADIR}/devsys)
endif()
install(FILES "${PROJECT_SOURCE_DIR}/docs/cli.md" DESTINATION ${CMAKE_INSTALL_DOCDIR} OPTIONAL)
