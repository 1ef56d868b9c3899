# Decides whether the MPI communicator (src/dist/mpi_communicator.cpp) is built
# (ROAST_WITH_MPI) and says why, loudly. Without it, roast-train trains in one process and
# refuses to run under mpirun (docs/distributed.md).
set(ROAST_USE_MPI AUTO CACHE STRING "Build the MPI communicator: AUTO (when MPI is found), ON or OFF")
set_property(CACHE ROAST_USE_MPI PROPERTY STRINGS AUTO ON OFF)
string(TOUPPER "${ROAST_USE_MPI}" _roast_mpi_mode)
set(ROAST_WITH_MPI OFF)
if(_roast_mpi_mode STREQUAL "OFF")
  set(_roast_mpi_why "ROAST_USE_MPI=OFF")
else()
  find_package(MPI COMPONENTS CXX)
  if(MPI_CXX_FOUND)
    set(ROAST_WITH_MPI ON)
    set(_roast_mpi_why "MPI ${MPI_CXX_VERSION} (${MPI_CXX_LIBRARIES}) (ROAST_USE_MPI=${ROAST_USE_MPI})")
  elseif(_roast_mpi_mode STREQUAL "ON")
    message(FATAL_ERROR "ROAST_USE_MPI=ON but no MPI was found. Install it (Debian: apt-get install libopenmpi-dev openmpi-bin, as in scripts/setup.sh) or configure with -DROAST_USE_MPI=OFF.")
  else()
    set(_roast_mpi_why "no MPI found (ROAST_USE_MPI=AUTO): one process only; apt-get install libopenmpi-dev openmpi-bin for data-parallel training")
  endif()
endif()

# NCCL (GPU gradient sums) is opened at run time (kernels/cuda/nccl.cu); its header, when
# present, only checks the declarations there at compile time.
set(ROAST_NCCL_HEADER "")
if(ROAST_WITH_CUDA)
  find_path(ROAST_NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include /usr/include)
  find_library(ROAST_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64 /usr/lib/x86_64-linux-gnu)
  if(ROAST_NCCL_INCLUDE_DIR)
    set(ROAST_NCCL_HEADER "${ROAST_NCCL_INCLUDE_DIR}/nccl.h")
  endif()
  if(ROAST_NCCL_LIBRARY)
    set(_roast_nccl_why "NCCL: libnccl at ${ROAST_NCCL_LIBRARY}, loaded at run time")
  else()
    set(_roast_nccl_why "NCCL: no libnccl on this machine; loaded at run time where present (CUDA runs on several ranks need it)")
  endif()
else()
  set(_roast_nccl_why "NCCL: not built (no CUDA backend)")
endif()

if(ROAST_WITH_MPI)
  set(_roast_mpi_banner "MPI: ON  -- ${_roast_mpi_why}")
else()
  set(_roast_mpi_banner "MPI: OFF -- ${_roast_mpi_why}")
endif()
message(NOTICE "\n====================================================================\n"
               " roast ${PROJECT_VERSION}: ${_roast_mpi_banner}\n"
               " ${_roast_nccl_why}\n"
               "====================================================================\n")
