# Installs libroast.a, the public headers and a CMake package (find_package(roast)).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
install(TARGETS roast EXPORT roastTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/roast DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/include/roast/config.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/roast)
install(EXPORT roastTargets NAMESPACE roast:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/roast)
configure_package_config_file(cmake/roastConfig.cmake.in ${PROJECT_BINARY_DIR}/roastConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/roast)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/roastConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/roastConfig.cmake ${PROJECT_BINARY_DIR}/roastConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/roast)
