# Installs libroast.a, the public headers, roast-train (apps/) and a CMake package:
#   <prefix>/include/roast/**.h          the API, plus the generated roast/config.h
#   <prefix>/lib/libroast.a
#   <prefix>/lib/cmake/roast/            roastConfig.cmake, roastConfigVersion.cmake,
#                                        roastTargets*.cmake (the target roast::roast)
# so that another project can write find_package(roast REQUIRED) and link roast::roast.
#
# What roast::roast carries into a consumer (the exported INTERFACE_* properties):
#   - the include directory and cxx_std_17;
#   - $<LINK_ONLY:OpenMP::OpenMP_CXX>, $<LINK_ONLY:ZLIB::ZLIB> and, in CUDA builds,
#     $<LINK_ONLY:CUDA::cudart>, $<LINK_ONLY:CUDA::cublas> and, in MPI builds,
#     $<LINK_ONLY:MPI::MPI_CXX>: the private link dependencies
#     of the static library, which roastConfig.cmake finds with find_dependency;
#   - nothing else: Eigen and nlohmann_json are used only inside the library (header-only,
#     $<BUILD_INTERFACE:...>), and -march=native is not inherited (docs/embedding.md).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ROAST_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/roast)

# Consumers are C++17 because the headers are (fold expressions, std::optional).
target_compile_features(roast INTERFACE cxx_std_17)

install(TARGETS roast EXPORT roastTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/roast DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/include/roast/config.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/roast)
install(EXPORT roastTargets NAMESPACE roast:: DESTINATION ${ROAST_INSTALL_CMAKEDIR})

configure_package_config_file(cmake/roastConfig.cmake.in ${PROJECT_BINARY_DIR}/roastConfig.cmake
  INSTALL_DESTINATION ${ROAST_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/roastConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/roastConfig.cmake ${PROJECT_BINARY_DIR}/roastConfigVersion.cmake
  DESTINATION ${ROAST_INSTALL_CMAKEDIR})
