// Hides the difference between Catch2 v3 (GPU machine) and v2 (Debian 12).
#pragma once
#if __has_include(<catch2/catch_test_macros.hpp>)
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#define ROAST_CATCH_V3 1
#else
#include <catch2/catch.hpp>
#define ROAST_CATCH_V3 0
#endif
