// The MPI engine of a build without MPI (CMake did not find it, or ROAST_USE_MPI=OFF).
#include "dist/mpi_engine.h"

namespace roast::dist::detail {

bool have_mpi() { return false; }

std::unique_ptr<Communicator> connect_mpi() {
  fail("this process was started by mpirun (or another MPI launcher), but this build of roast has no MPI: every rank ",
       "would train alone and write the same run folder. Install MPI (scripts/setup.sh: libopenmpi-dev openmpi-bin) and ",
       "rebuild (the configure step must say \"MPI: ON\"), or run without mpirun");
}

}  // namespace roast::dist::detail
