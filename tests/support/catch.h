// Hides the difference between Catch2 v3 (GPU machine) and v2 (Debian 12).
// Use Approx, ROAST_CONTAINS("text") (a string matcher) and the usual macros.
#pragma once
#if __has_include(<catch2/catch_test_macros.hpp>)
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#define ROAST_CATCH_V3 1
using Catch::Approx;
#define ROAST_CONTAINS(text) Catch::Matchers::ContainsSubstring(text)
#else
#include <catch2/catch.hpp>
#define ROAST_CATCH_V3 0
#define ROAST_CONTAINS(text) Catch::Matchers::Contains(text)
#endif
