// Properties of the transcript chain: a relay that loses, repeats and alters nothing raises no
// alert whatever the schedule; one that only reorders raises nothing but "missing" and
// "reordered", and every gap it opened is closed at the end.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <deque>

#include "protocol/transcript.hpp"
#include "unit/protocol/transcript_party.hpp"

namespace bc::protocol {
namespace {

using test::Party;
using test::Sent;

// Step: 0 alpha sends, 1 bravo sends, 2 deliver to bravo, 3 deliver to alpha, 4/5 a relay
// receipt reaches alpha/bravo for its latest message.
RC_GTEST_PROP(TranscriptProperty, FaultlessScheduleRaisesNoAlert, ()) {
  const auto steps = *rc::gen::container<std::vector<int>>(rc::gen::inRange(0, 6));
  Party alpha;
  Party bravo;
  std::deque<Sent> to_bravo;
  std::deque<Sent> to_alpha;
  std::uint64_t relay_seq = 0;
  std::int64_t relay_time = 1'000;
  for (const int step : steps) {
    switch (step) {
      case 0:
        to_bravo.push_back(alpha.send());
        break;
      case 1:
        to_alpha.push_back(bravo.send());
        break;
      case 2:
        if (!to_bravo.empty()) {
          RC_ASSERT(bravo.receive(to_bravo.front(), alpha).empty());
          to_bravo.pop_front();
        }
        break;
      case 3:
        if (!to_alpha.empty()) {
          RC_ASSERT(alpha.receive(to_alpha.front(), bravo).empty());
          to_alpha.pop_front();
        }
        break;
      case 4:
        alpha.receipt(alpha.state.out_seq, ++relay_seq, relay_time += 7);
        break;
      default:
        bravo.receipt(bravo.state.out_seq, ++relay_seq, relay_time += 7);
        break;
    }
  }
  while (!to_bravo.empty()) {
    RC_ASSERT(bravo.receive(to_bravo.front(), alpha).empty());
    to_bravo.pop_front();
  }
  while (!to_alpha.empty()) {
    RC_ASSERT(alpha.receive(to_alpha.front(), bravo).empty());
    to_alpha.pop_front();
  }
  RC_ASSERT(bravo.state.in_seq == alpha.state.out_seq);
  RC_ASSERT(alpha.state.in_seq == bravo.state.out_seq);
}

RC_GTEST_PROP(TranscriptProperty, ReorderingAloneIsOnlyReorderingAndEveryGapCloses, ()) {
  const auto count = *rc::gen::inRange<std::size_t>(1, 40);
  Party alpha;
  Party bravo;
  std::vector<Sent> sent;
  for (std::size_t i = 0; i < count; ++i) sent.push_back(alpha.send());
  const auto order = *rc::gen::apply(
      [](std::vector<Sent> v, std::vector<std::size_t> swaps) {
        for (std::size_t i = 0; i < swaps.size() && !v.empty(); ++i) {
          std::swap(v[i % v.size()], v[swaps[i] % v.size()]);
        }
        return v;
      },
      rc::gen::just(sent), rc::gen::arbitrary<std::vector<std::size_t>>());
  for (const auto& m : order) {
    for (const auto& f : bravo.receive(m, alpha)) {
      RC_ASSERT(f.kind == FindingKind::kMissing || f.kind == FindingKind::kReordered);
    }
  }
  RC_ASSERT(bravo.state.missing.empty());
  RC_ASSERT(bravo.state.in_seq == count);
}

}  // namespace
}  // namespace bc::protocol
