# The consumer test's setup steps, run by ctest as `cmake -DSTEP=... -P steps.cmake`
# (tests/CMakeLists.txt registers them as fixtures):
#   STEP=install  empty the test's WORK folder; install the build tree ROAST_BINARY_DIR
#                 (config CONFIG) into a fresh PREFIX
#                 and check the package files are there (LIBDIR: CMAKE_INSTALL_LIBDIR)
#   STEP=build    configure and build CONSUMER_SOURCE_DIR in CONSUMER_BINARY_DIR against
#                 PREFIX only (-DCMAKE_PREFIX_PATH), with the parent build's GENERATOR,
#                 MAKE_PROGRAM, CXX_COMPILER and CXX_FLAGS (e.g. sanitizers must match)
cmake_minimum_required(VERSION 3.25)

function(run_step)
  string(JOIN " " command_line ${ARGN})
  message(STATUS "running: ${command_line}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${command_line}")
  endif()
endfunction()

if(STEP STREQUAL "install")
  file(REMOVE_RECURSE "${PREFIX}" "${WORK}")  # nothing stale from an earlier run may help
  run_step("${CMAKE_COMMAND}" --install "${ROAST_BINARY_DIR}" --prefix "${PREFIX}" --config "${CONFIG}")
  foreach(file include/roast/roast.h include/roast/config.h ${LIBDIR}/libroast.a ${LIBDIR}/cmake/roast/roastConfig.cmake
               ${LIBDIR}/cmake/roast/roastConfigVersion.cmake ${LIBDIR}/cmake/roast/roastTargets.cmake bin/roast-train)
    if(NOT EXISTS "${PREFIX}/${file}")
      message(FATAL_ERROR "the install lacks ${PREFIX}/${file}")
    endif()
  endforeach()
elseif(STEP STREQUAL "build")
  set(build_type_arg "")
  if(CONFIG)
    set(build_type_arg "-DCMAKE_BUILD_TYPE=${CONFIG}")
  endif()
  run_step("${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${CONSUMER_BINARY_DIR}" -G "${GENERATOR}"
           "-DCMAKE_PREFIX_PATH=${PREFIX}" "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
           "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" ${build_type_arg})
  file(STRINGS "${CONSUMER_BINARY_DIR}/CMakeCache.txt" roast_dir_line REGEX "^roast_DIR:")
  if(NOT roast_dir_line MATCHES "^roast_DIR:PATH=${PREFIX}/")
    message(FATAL_ERROR "find_package(roast) did not find the package under ${PREFIX}: ${roast_dir_line}")
  endif()
  run_step("${CMAKE_COMMAND}" --build "${CONSUMER_BINARY_DIR}" --config "${CONFIG}" --parallel 2)
else()
  message(FATAL_ERROR "steps.cmake: unknown STEP \"${STEP}\" (install or build)")
endif()
