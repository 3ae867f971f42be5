// Drives the session event model of tests/property/protocol with fuzzer-chosen events (send,
// deliver in any order, duplicate, tamper, restart); aborts on any broken promise.
#include <cstdio>
#include <cstdlib>

#include "property/protocol/session_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  bc::protocol::test::SessionModel model(data[0]);
  std::size_t i = 1;
  auto next = [&]() -> std::uint8_t { return i < size ? data[i++] : 0; };
  for (int steps = 0; i < size && steps < 200; ++steps) {
    const std::uint8_t op = next();
    std::optional<std::string> violation;
    switch (op % 5) {
      case 0:
      case 1:
        violation = model.send(op % 2);
        break;
      case 2:
        violation = model.deliver(next());
        break;
      case 3: {
        const std::size_t index = next();
        violation = model.tamper(index, static_cast<std::size_t>(next()) * 7 + next());
        break;
      }
      default:
        violation = model.restart(op % 2);
        break;
    }
    if (violation) {
      std::fprintf(stderr, "session model: %s\n", violation->c_str());
      std::abort();
    }
  }
  return 0;
}
