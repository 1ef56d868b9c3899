// The documented ranges of every numeric input (docs/reliability.md lists them with the
// reasons). Values outside them are rejected at the edge (config reader, dataset readers,
// checkpoint reader) with roast::Error naming the file and key, before any allocation that
// depends on them. The bounds are generous for real work and small enough that every
// product the engine forms from them (samples x seq_len, epochs x batches, rows x cols)
// stays far from 2^63.
#pragma once

#include <cstdint>

namespace roast::limits {

// Config: run-wide.
constexpr std::int64_t kMaxThreads = 1024;             // "threads" (0 = all cores)
constexpr std::int64_t kMaxEpochs = 1'000'000;         // "train.epochs"
constexpr std::int64_t kMaxSteps = 1'000'000'000'000;  // "train.max_steps", "eval_every", "log_every"
constexpr std::int64_t kMaxBatch = 1 << 20;            // "train.batch_size", "train.eval_batch_size"
constexpr std::int64_t kMaxNameBytes = 128;            // "name": [A-Za-z0-9._-], not starting with '.'
// Config: data.
constexpr std::int64_t kMaxSeqLen = 1 << 16;           // "data.seq_len" (tokens per text)
constexpr std::int64_t kMaxVocab = 1 << 24;            // "data.vocab_size" (ids are int32)
// Config: memory and model.
constexpr std::int64_t kMaxTileSide = 1 << 16;         // "memory.tile" rows and cols, "embedding_chunk"
constexpr std::int64_t kMaxLayers = 256;               // "model.layers", "blocks_per_stage", "convs", list lengths
constexpr std::int64_t kMaxWidth = 1 << 16;            // "model.dim", "hidden", "ffn_dim", "channels", "widths"
constexpr std::int64_t kMaxBigramBuckets = 1 << 26;    // "model.bigram_buckets"
// Data files.
constexpr std::int64_t kMaxClasses = 1 << 16;          // labels / class lists
// JSON nesting (configs, --set values, checkpoint headers): deeper input is rejected
// before anything walks it recursively.
constexpr int kMaxJsonDepth = 64;

}  // namespace roast::limits
