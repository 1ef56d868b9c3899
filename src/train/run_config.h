// Forwarding header: the run config moved to the config layer (src/config/run_config.h).
// Kept only for tests/unit/test_cuda_train.cpp, which belongs to the backend redesign's
// files; remove it once that test includes config/run_config.h.
#pragma once

#include "config/run_config.h"
