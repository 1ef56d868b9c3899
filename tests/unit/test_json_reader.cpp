#include "config/json_reader.h"
#include "support/catch.h"

using namespace roast;
using nlohmann::json;

TEST_CASE("json reader: defaults are recorded, types checked, unknown keys rejected", "[config]") {
  const json cfg = json::parse(R"({"optimizer": {"lr": 0.5, "nam": "sgd"}, "epochs": 3})");
  json resolved;
  JsonReader root(cfg, "", "run.json", &resolved);
  CHECK(root.get<std::int64_t>("epochs", 10) == 3);
  CHECK(root.get<std::int64_t>("batch_size", 64) == 64);
  JsonReader opt = root.object("optimizer");
  CHECK(opt.get<float>("lr", 0.1f) == Approx(0.5f));
  CHECK(opt.get<std::string>("name", "adam") == "adam");
  CHECK_THROWS_WITH(opt.finish(), ROAST_CONTAINS("run.json: `optimizer.nam`: unknown key (did you mean `name`?)"));
  root.finish();
  CHECK(resolved["batch_size"] == 64);
  CHECK(resolved["optimizer"]["name"] == "adam");

  const json wrong = json::parse(R"({"epochs": "ten"})");
  JsonReader r2(wrong, "", "x.json", nullptr);
  CHECK_THROWS_WITH(r2.get<std::int64_t>("epochs", 10), ROAST_CONTAINS("`epochs`: must be an integer, got \"ten\""));
  const json list = json::parse(R"({"model": {"layers": [{"width": 3}, {"widht": 4}]}})");
  JsonReader r3(list, "", "y.json", nullptr);
  auto layers = r3.object("model").objects("layers");
  layers[1].get<std::int64_t>("width", 1);
  CHECK_THROWS_WITH(layers[1].finish(), ROAST_CONTAINS("`model.layers[1].widht`"));
}

TEST_CASE("json reader: value rules and overrides", "[config]") {
  json cfg = json::parse(R"({"memory": {"scheme": "roastt", "compression": -2}})");
  JsonReader root(cfg, "", "c.json", nullptr);
  JsonReader mem = root.object("memory");
  CHECK_THROWS_WITH(one_of(mem, "scheme", "roast", {"dense", "roast", "hashednet"}),
                    ROAST_CONTAINS("did you mean \"roast\"") && ROAST_CONTAINS("valid: dense, roast, hashednet"));
  CHECK_THROWS_WITH(positive(mem, "compression", 10.0f), ROAST_CONTAINS("`memory.compression`: must be a positive finite number"));

  apply_override(cfg, "memory.scheme=dense");
  apply_override(cfg, "optimizer.lr=0.01");
  apply_override(cfg, "model.hidden=[64,32]");
  CHECK(cfg["memory"]["scheme"] == "dense");
  CHECK(cfg["optimizer"]["lr"].get<double>() == Approx(0.01));
  CHECK(cfg["model"]["hidden"].size() == 2);
  CHECK_THROWS_WITH(apply_override(cfg, "novalue"), ROAST_CONTAINS("KEY=VALUE"));
  CHECK_THROWS_WITH(apply_override(cfg, "memory.scheme.x=1"), ROAST_CONTAINS("is not an object"));
}
