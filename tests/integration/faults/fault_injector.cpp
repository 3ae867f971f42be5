#include "faults/fault_injector.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>

#include "core/check.hpp"
#include "crypto/hash.hpp"

namespace bc::test {
namespace {

constexpr std::pair<std::string_view, FaultKind> kKinds[] = {
    {"drop", FaultKind::kDrop},           {"delay", FaultKind::kDelay},
    {"duplicate", FaultKind::kDuplicate}, {"reorder", FaultKind::kReorder},
    {"replay", FaultKind::kReplay},       {"truncate", FaultKind::kTruncate},
    {"alter", FaultKind::kAlter},         {"withhold", FaultKind::kWithhold},
};

Result<std::uint64_t> parse_number(std::string_view text, const char* what) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return fail(Errc::kMalformed, std::string("fault: ") + what + " must be a whole number");
  }
  return value;
}

}  // namespace

std::string_view fault_kind_name(FaultKind kind) {
  for (const auto& [name, k] : kKinds) {
    if (k == kind) return name;
  }
  return "unknown";
}

Result<Fault> parse_fault(std::string_view text) {
  const auto eq = text.find('=');
  if (eq == std::string_view::npos) {
    return fail(Errc::kMalformed, "fault must be KIND=N or KIND=N:ARG");
  }
  const std::string_view name = text.substr(0, eq);
  std::string_view rest = text.substr(eq + 1);
  Fault fault;
  const auto* found = std::find_if(std::begin(kKinds), std::end(kKinds),
                                   [&](const auto& entry) { return entry.first == name; });
  if (found == std::end(kKinds))
    return fail(Errc::kMalformed, "unknown fault " + std::string(name));
  fault.kind = found->second;
  std::string_view arg;
  if (const auto colon = rest.find(':'); colon != std::string_view::npos) {
    arg = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (arg.empty()) return fail(Errc::kMalformed, "fault: empty argument after ':'");
  }
  BC_ASSIGN_OR_RETURN(fault.nth, parse_number(rest, "N"));
  if (fault.nth == 0) return fail(Errc::kMalformed, "fault: N counts from 1");
  if (!arg.empty()) {
    BC_ASSIGN_OR_RETURN(const std::uint64_t value, parse_number(arg, "the argument"));
    switch (fault.kind) {
      case FaultKind::kDelay:
        fault.millis = static_cast<std::int64_t>(std::min<std::uint64_t>(value, 3'600'000));
        break;
      case FaultKind::kTruncate:
        fault.keep = static_cast<std::size_t>(std::min<std::uint64_t>(value, 1 << 20));
        break;
      case FaultKind::kAlter:
        fault.offset = static_cast<std::size_t>(std::min<std::uint64_t>(value, 1 << 20));
        break;
      default:
        return fail(Errc::kMalformed, "fault " + std::string(name) + " takes no argument (KIND=N)");
    }
  }
  return fault;
}

FaultInjector::FaultInjector(std::vector<Fault> faults, relay::Outbox& downstream,
                             const Clock& clock, bool timer)
    : faults_(std::move(faults)), downstream_(downstream), clock_(clock) {
  const bool delays = std::any_of(faults_.begin(), faults_.end(),
                                  [](const Fault& f) { return f.kind == FaultKind::kDelay; });
  if (timer && delays) timer_ = std::thread([this] { run_timer(); });
}

FaultInjector::~FaultInjector() { stop(); }

void FaultInjector::attach(relay::RelayService& upstream) { upstream_ = &upstream; }

void FaultInjector::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    held_.clear();
  }
  cv_.notify_all();
  if (timer_.joinable()) timer_.join();
}

FaultStats FaultInjector::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

const Fault* FaultInjector::find(FaultKind kind, std::uint64_t nth) const {
  for (const Fault& f : faults_) {
    if (f.kind != kind) continue;
    // A withholding relay stays silent from the Nth delivery on; every other fault hits one.
    if (kind == FaultKind::kWithhold ? nth >= f.nth : nth == f.nth) return &f;
  }
  return nullptr;
}

Bytes FaultInjector::encode(wire::RequestId request_id, wire::RelayMessage message) {
  Result<Bytes> frame = wire::encode_relay_frame(wire::RelayFrame{request_id, std::move(message)});
  BC_CHECK(frame.has_value());  // built from a frame that decoded, within the same caps
  return std::move(frame).value();
}

void FaultInjector::forward(relay::ConnectionId connection, Bytes frame) {
  downstream_.send(connection, std::move(frame));
}

void FaultInjector::on_open(relay::ConnectionId connection) { upstream_->on_open(connection); }

void FaultInjector::on_frame(relay::ConnectionId connection, ByteView frame) {
  Result<wire::RelayFrame> decoded = wire::decode_relay_frame(frame);
  if (decoded) {
    std::lock_guard lock(mu_);
    if (const auto* deposit = std::get_if<wire::Deposit>(&decoded->message)) {
      const std::uint64_t n = ++stats_.deposits;
      // The service still stores and acknowledges the deposit; only its delivery is lost.
      if (find(FaultKind::kDrop, n) != nullptr) dropped_.insert(crypto::sha256(deposit->envelope));
    } else if (const auto* ack = std::get_if<wire::Ack>(&decoded->message)) {
      if (!note_ack({ack->recipient_id, ack->message_id})) {
        // The service deleted this envelope at its first ack; a lying relay acknowledges the
        // ack of its own copy rather than reveal it with a not_found.
        forward(connection, encode(decoded->request_id, wire::Ok{}));
        downstream_.flush();
        return;
      }
    } else if (const auto* many = std::get_if<wire::AckMany>(&decoded->message)) {
      // The service skips the ids it does not hold (the injector's own copies) and answers ok.
      for (const wire::MessageId id : many->message_ids) (void)note_ack({many->recipient_id, id});
    } else if (const auto* subscribe = std::get_if<wire::Subscribe>(&decoded->message)) {
      subscribing_[{connection, decoded->request_id}] = subscribe->recipient_id;
    }
  }
  upstream_->on_frame(connection, frame);
}

bool FaultInjector::note_ack(const Key& key) {
  if (replayed_.contains(key) || (resent_.contains(key) && acked_.contains(key))) {
    ++stats_.acks_answered;
    return false;
  }
  acked_.insert(key);
  if (auto armed = replay_after_ack_.find(key); armed != replay_after_ack_.end()) {
    // The replay comes back as if deposited again: the same envelope under a message id of its
    // own, which only the injector knows (and acknowledges).
    wire::Delivery again = armed->second;
    again.message_id = kReplayIdBase + ++replays_;
    replayed_.insert({again.recipient_id, again.message_id});
    replay_at_subscribe_[key.first] = encode(0, std::move(again));
    replay_after_ack_.erase(armed);
  }
  return true;
}

void FaultInjector::on_close(relay::ConnectionId connection) {
  {
    std::lock_guard lock(mu_);
    // What was held for this connection is still unacknowledged on the relay, which pushes it
    // again at the next subscription: let that push through untouched.
    for (auto it = held_.begin(); it != held_.end();) {
      if (it->connection != connection) {
        ++it;
        continue;
      }
      fates_[it->key] = Fate::kPass;
      it = held_.erase(it);
    }
    for (auto it = subscribing_.begin(); it != subscribing_.end();) {
      it = it->first.first == connection ? subscribing_.erase(it) : std::next(it);
    }
  }
  upstream_->on_close(connection);
}

std::string FaultInjector::metrics_text() const { return upstream_->metrics_text(); }

void FaultInjector::close(relay::ConnectionId connection) { downstream_.close(connection); }

void FaultInjector::flush() { downstream_.flush(); }

void FaultInjector::send(relay::ConnectionId connection, Bytes frame) {
  Result<wire::RelayFrame> decoded = wire::decode_relay_frame(frame);
  std::lock_guard lock(mu_);
  if (!decoded) {
    forward(connection, std::move(frame));
    return;
  }
  if (const auto* delivery = std::get_if<wire::Delivery>(&decoded->message)) {
    on_delivery(connection, *delivery, std::move(frame));
    return;
  }
  const auto sub = subscribing_.find({connection, decoded->request_id});
  if (sub == subscribing_.end()) {
    forward(connection, std::move(frame));
    return;
  }
  const wire::QueueId queue = sub->second;
  subscribing_.erase(sub);
  forward(connection, std::move(frame));
  if (!std::holds_alternative<wire::Ok>(decoded->message)) return;
  if (auto replay = replay_at_subscribe_.find(queue); replay != replay_at_subscribe_.end()) {
    ++stats_.injected;
    forward(connection, std::move(replay->second));
    replay_at_subscribe_.erase(replay);
  }
}

void FaultInjector::on_delivery(relay::ConnectionId connection, const wire::Delivery& delivery,
                                Bytes frame) {
  const Key key{delivery.recipient_id, delivery.message_id};
  if (const auto fate = fates_.find(key); fate != fates_.end()) {
    // The relay pushes an unacknowledged envelope again after a reconnect: same fate as before.
    switch (fate->second) {
      case Fate::kSuppress:
        ++stats_.suppressed;
        return;
      case Fate::kModified:
        forward(connection, modified_.at(key));
        return;
      case Fate::kHeld:
        return;  // the held copy goes out when it is released
      case Fate::kPass:
        forward(connection, std::move(frame));
        return;
    }
  }
  const std::uint64_t n = ++stats_.deliveries;
  if (dropped_.contains(crypto::sha256(delivery.envelope)) ||
      find(FaultKind::kWithhold, n) != nullptr) {
    fates_[key] = Fate::kSuppress;
    ++stats_.suppressed;
    return;
  }
  const Fault* alter = find(FaultKind::kAlter, n);
  const Fault* truncate = find(FaultKind::kTruncate, n);
  if (alter != nullptr || truncate != nullptr) {
    wire::Delivery changed = delivery;
    if (alter != nullptr) {
      changed.envelope[alter->offset % changed.envelope.size()] ^= 0xff;
    } else {
      // The frame keeps its padding bucket (so it still parses); the content is cut short.
      const std::size_t keep = std::min(truncate->keep, changed.envelope.size());
      std::fill(changed.envelope.begin() + static_cast<std::ptrdiff_t>(keep),
                changed.envelope.end(), 0);
    }
    Bytes changed_frame = encode(0, std::move(changed));
    modified_[key] = changed_frame;
    fates_[key] = Fate::kModified;
    ++stats_.modified;
    forward(connection, std::move(changed_frame));
    return;
  }
  if (const Fault* delay = find(FaultKind::kDelay, n); delay != nullptr) {
    held_.push_back({connection, key, std::move(frame), clock_.now_ms() + delay->millis});
    fates_[key] = Fate::kHeld;
    ++stats_.held;
    cv_.notify_all();
    return;
  }
  if (find(FaultKind::kReorder, n) != nullptr) {
    held_.push_back({connection, key, std::move(frame), 0});
    fates_[key] = Fate::kHeld;
    ++stats_.held;
    return;
  }
  fates_[key] = Fate::kPass;
  const bool duplicate = find(FaultKind::kDuplicate, n) != nullptr;
  if (find(FaultKind::kReplay, n) != nullptr) replay_after_ack_[key] = delivery;
  if (duplicate) {
    resent_.insert(key);
    ++stats_.injected;
    forward(connection, frame);
  }
  forward(connection, std::move(frame));
  // A delivery held for reordering goes out right after the one that overtook it.
  for (auto it = held_.begin(); it != held_.end();) {
    if (it->due_ms != 0 || it->connection != connection) {
      ++it;
      continue;
    }
    fates_[it->key] = Fate::kPass;
    forward(connection, std::move(it->frame));
    it = held_.erase(it);
  }
}

void FaultInjector::release_due() {
  std::lock_guard lock(mu_);
  const std::int64_t now = clock_.now_ms();
  for (auto it = held_.begin(); it != held_.end();) {
    if (it->due_ms == 0 || it->due_ms > now) {
      ++it;
      continue;
    }
    fates_[it->key] = Fate::kPass;
    forward(it->connection, std::move(it->frame));
    it = held_.erase(it);
  }
  downstream_.flush();  // this thread is not the service's: what it sent must not wait
}

void FaultInjector::run_timer() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(20));
    if (stopping_) break;
    lock.unlock();
    release_due();
    lock.lock();
  }
}

}  // namespace bc::test
