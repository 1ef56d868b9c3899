// TrainedModel: a checkpoint turned back into a model for evaluation and prediction.
#include <algorithm>
#include <cmath>

#include "roast/autograd.h"
#include "roast/ops.h"
#include "roast/data/wordpiece.h"
#include "train/session.h"

namespace roast {

struct TrainedModel::State {
  Session session;
  std::string path;
  std::vector<std::string> vocabulary;
  data::ChannelStats stats;
  std::shared_ptr<const data::Tokenizer> tokenizer;
};

TrainedModel::TrainedModel(std::unique_ptr<State> state) : state_(std::move(state)) {}
TrainedModel::~TrainedModel() = default;
TrainedModel::TrainedModel(TrainedModel&&) noexcept = default;
TrainedModel& TrainedModel::operator=(TrainedModel&&) noexcept = default;

TrainedModel TrainedModel::load(const std::string& path, const std::string& device) {
  const Checkpoint ck = load_checkpoint(path);
  const nlohmann::json h = checkpoint_header(ck, path);
  auto st = std::make_unique<State>();
  st->path = path;
  Session& s = st->session;
  s.source = path + " (its config)";
  s.config = parse_run_config(h["config"], s.source, &s.resolved);
  s.device = device.empty() ? device_or_cpu(s.config.device)
                            : usable_device(device, "--device (loading " + path + ")", "--device cpu");
  check_precision(s.device, s.config.precision, path + " (its config)",
                  "Evaluate on the CPU (--device cpu), which emulates bf16, or on such a GPU");
  const nlohmann::json& in = h["input"];
  nn::InputSpec input;
  input.text = in.at("text"), input.channels = in.at("channels"), input.height = in.at("height");
  input.width = in.at("width"), input.vocab_size = in.at("vocab_size"), input.max_length = in.at("max_length");
  input.n_classes = in.at("n_classes");
  build_model(s, input, h["class_names"].get<std::vector<std::string>>());
  restore_weights(s, ck, path, false);
  // A diverged run's weights would give NaN losses and arbitrary predictions: refused.
  if (!all_finite(s.memory->params().detach()))
    fail("checkpoint ", path, " holds non-finite parameters (NaN or infinity): the run diverged before it was written. ",
         "Use an earlier checkpoint, or retrain with a lower optimizer.lr or optimizer.grad_clip_norm");
  if (input.text) {
    st->vocabulary = h.at("vocabulary").get<std::vector<std::string>>();
    data::Vocabulary vocab(st->vocabulary, path + " (vocabulary)");
    if (s.config.data.tokenizer == "wordpiece") st->tokenizer = std::make_shared<data::WordPieceTokenizer>(vocab);
    else st->tokenizer = std::make_shared<data::WordTokenizer>(vocab);
  } else {
    st->stats = {h.at("channel_stats").at("mean").get<std::vector<float>>(), h.at("channel_stats").at("std").get<std::vector<float>>()};
  }
  return TrainedModel(std::move(st));
}

bool TrainedModel::is_text() const { return state_->session.input.text; }
const std::vector<std::string>& TrainedModel::class_names() const { return state_->session.class_names; }
std::vector<std::int64_t> TrainedModel::image_shape() const {
  const nn::InputSpec& in = state_->session.input;
  return {in.channels, in.height, in.width};
}

Evaluation TrainedModel::evaluate(const std::string& split) const {
  ROAST_CHECK(split == "test" || split == "validation", "--split: \"", split, "\" is not a split; use test or validation");
  Session& s = state_->session;
  // The run's split record (if any) lives beside the checkpoint.
  std::string dir = state_->path;
  const std::size_t slash = dir.find_last_of('/');
  dir = slash == std::string::npos ? "." : dir.substr(0, slash);
  const PreparedData data = prepare_data(s.config.data, dir, is_text() ? &state_->vocabulary : nullptr,
                                         is_text() ? nullptr : &state_->stats);
  return roast::evaluate(s, data, split == "test" ? PreparedData::test : PreparedData::validation);
}

namespace {
std::vector<Prediction> predictions(const Tensor& logits, const std::vector<std::string>& names) {
  const Tensor p = softmax(logits);
  const std::vector<float> v = p.to_vector();  // the one read-back
  const std::int64_t c = logits.size(1);
  std::vector<Prediction> out;
  for (std::int64_t i = 0; i < logits.size(0); ++i) {
    const float* row = v.data() + i * c;
    const std::int64_t best = std::max_element(row, row + c) - row;
    out.push_back({std::int32_t(best), best < std::int64_t(names.size()) ? names[std::size_t(best)] : std::to_string(best), row[best]});
  }
  return out;
}
}  // namespace

std::vector<Prediction> TrainedModel::predict_images(const std::vector<std::vector<std::uint8_t>>& images) const {
  ROAST_CHECK(!is_text(), "predict: this model classifies texts, not images");
  ROAST_CHECK(!images.empty(), "predict_images: no images given; pass at least one");
  const nn::InputSpec& in = state_->session.input;
  const std::int64_t per_image = in.channels * in.height * in.width;
  std::vector<float> x;
  for (std::size_t i = 0; i < images.size(); ++i) {
    ROAST_CHECK(std::int64_t(images[i].size()) == per_image, "predict: image ", i, " has ", images[i].size(),
                " values; the model expects ", in.channels, "x", in.height, "x", in.width, " = ", per_image);
    for (std::int64_t j = 0; j < per_image; ++j) {
      const std::size_t c = std::size_t(j / (in.height * in.width));
      x.push_back((float(images[i][std::size_t(j)]) / 255.0f - state_->stats.mean[c]) / state_->stats.std[c]);
    }
  }
  NoGradGuard no_grad;
  nn::Batch b;
  b.images = Tensor::from_vector(x, {std::int64_t(images.size()), in.channels, in.height, in.width},
                                 state_->session.device);
  nn::Context ctx = forward_context(state_->session, false);
  return predictions(state_->session.model->forward(b, ctx), class_names());
}

std::vector<Prediction> TrainedModel::predict_texts(const std::vector<std::string>& texts) const {
  ROAST_CHECK(is_text(), "predict: this model classifies images, not texts");
  ROAST_CHECK(!texts.empty(), "predict_texts: no texts given; pass at least one");
  data::EncodeOptions eo;
  eo.seq_len = state_->session.input.max_length;
  std::vector<std::int32_t> ids;
  std::vector<float> mask;
  for (const std::string& t : texts) {
    std::vector<std::int32_t> row_ids;
    std::vector<float> row_mask;
    data::encode_text(*state_->tokenizer, t, eo, row_ids, row_mask);
    ids.insert(ids.end(), row_ids.begin(), row_ids.end());
    mask.insert(mask.end(), row_mask.begin(), row_mask.end());
  }
  NoGradGuard no_grad;
  nn::Batch b;
  const std::int64_t n = std::int64_t(texts.size());
  b.ids = Tensor::from_vector(ids, {n, eo.seq_len}, state_->session.device);
  b.mask = Tensor::from_vector(mask, {n, eo.seq_len}, state_->session.device);
  nn::Context ctx = forward_context(state_->session, false);
  return predictions(state_->session.model->forward(b, ctx), class_names());
}

}  // namespace roast
