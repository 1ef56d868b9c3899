// Fuzz target: a checkpoint file: the binary container (magic, sections, CRCs, tensors) and
// the header every loader validates before using a field.
#include "fuzz_common.h"
#include "roast/checkpoint.h"
#include "train/session.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::write_file("input.ckpt", data, size);
  fuzz::expect_clean([&] {
    const roast::Checkpoint ck = roast::load_checkpoint(path);
    const nlohmann::json h = roast::checkpoint_header(ck, path);
    (void)roast::restore_state(h);
    (void)h.dump();
  });
  // The header alone, without the container (CRCs make it hard to reach by mutation).
  fuzz::expect_clean([&] {
    roast::Checkpoint ck;
    ck.header_json.assign(reinterpret_cast<const char*>(data), size);
    const nlohmann::json h = roast::checkpoint_header(ck, path);
    (void)roast::restore_state(h);
  });
  return 0;
}
