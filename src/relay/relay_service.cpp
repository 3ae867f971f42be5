// The relay service: decodes frames on the transport's threads, then hands every request to one
// writer thread that runs a whole batch of them in one store transaction (group commit), commits
// it (fsync'd when the batch holds a deposit or another write that must survive), and only then
// sends the batch's replies and pushes through the Outbox.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <variant>
#include <vector>

#include "crypto/ed25519.hpp"
#include "crypto/hash.hpp"
#include "protocol/receipt.hpp"
#include "protocol/receipt_proof.hpp"
#include "relay/escrow_service.hpp"
#include "relay/relay.hpp"
#include "wire/relay_frames.hpp"

namespace bc::relay {
namespace {

using store::Durability;
using store::RelayStoreTxn;
using store::RelayUsage;
using wire::QueueId;
using wire::RelayErrorCode;

// Histogram is a Prometheus histogram with fixed upper bounds.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds)
      : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

  void observe(double value) {
    std::lock_guard lock(mu_);
    std::size_t i = 0;
    while (i < bounds_.size() && value > bounds_[i]) ++i;
    ++counts_[i];
    sum_ += value;
    ++count_;
  }

  void render(std::ostringstream& out, const char* name, const char* help) const {
    std::lock_guard lock(mu_);
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " histogram\n";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < bounds_.size(); ++i) {
      cumulative += counts_[i];
      out << name << "_bucket{le=\"" << bounds_[i] << "\"} " << cumulative << '\n';
    }
    out << name << "_bucket{le=\"+Inf\"} " << count_ << '\n';
    out << name << "_sum " << sum_ << '\n' << name << "_count " << count_ << '\n';
  }

 private:
  mutable std::mutex mu_;
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

// Connection is the transport-facing state of one connection (guarded by mu_).
struct Connection {
  std::optional<wire::Challenge> challenge;
  std::int64_t milli_tokens = 0;  // rate limiter: 1000 per request
  std::int64_t last_refill_ms = 0;
  bool closed = false;
};

// Op is one unit of work for the writer thread.
struct Op {
  ConnectionId connection = 0;
  wire::RequestId request_id = 0;
  wire::RelayMessage request;  // Hello is never queued; a closed connection carries Hello
  wire::Challenge challenge{};
  bool is_close = false;
  std::size_t frame_bytes = 0;  // counted against max_pending_bytes while queued
  // A deposit's envelope hash, for its receipt: computed on the transport thread that received
  // it, so the writer thread does not hash every envelope of a batch in turn.
  crypto::Sha256Digest envelope_hash{};
};

// Subscription is one queue's delivery state (writer thread only).
struct Subscription {
  ConnectionId connection = 0;
  wire::MessageId delivered_up_to = 0;               // highest message id pushed
  std::map<wire::MessageId, std::size_t> in_flight;  // pushed, not yet acknowledged: their sizes
  std::uint64_t in_flight_bytes = 0;
  bool backlog = true;  // the store may hold envelopes not yet pushed
};

// Effects applied after a successful commit, in request order.
struct NoEffect {};
struct SubscribedEffect {
  QueueId recipient_id;
};
// DepositedEffect: `proof` is filled in when the batch's receipts are signed (sign_receipts).
struct DepositedEffect {
  QueueId recipient_id;
  wire::MessageId message_id;
  std::int64_t received_ms;
  const Bytes* body;  // points into the batch's Op
  wire::ReceiptProof proof;
};
// AckedEffect: an ack or ack_many; `ids` are all it named, `deleted` / `bytes` what it removed.
struct AckedEffect {
  QueueId recipient_id;
  std::vector<wire::MessageId> ids;
  std::uint64_t deleted = 0;
  std::uint64_t bytes = 0;
};
struct QueueDeletedEffect {
  QueueId recipient_id;
  RelayUsage usage;
};
struct QueueCreatedEffect {};
struct ClosedEffect {};
// EscrowReleasedEffect: a release appended both deposits; each is then handled as a deposit.
struct EscrowReleasedEffect {
  std::vector<EscrowRelease> released;
};
using Effect =
    std::variant<NoEffect, SubscribedEffect, DepositedEffect, AckedEffect, QueueDeletedEffect,
                 QueueCreatedEffect, ClosedEffect, EscrowReleasedEffect>;

struct Outcome {
  std::optional<wire::RelayMessage> reply;
  Effect effect;
};

bool needs_durable_commit(const wire::RelayMessage& m) {
  return std::holds_alternative<wire::CreateQueue>(m) || std::holds_alternative<wire::Deposit>(m) ||
         std::holds_alternative<wire::PublishBundle>(m) ||
         std::holds_alternative<wire::FetchBundle>(m) ||
         // A withdrawn escrow deposit must not come back after a power failure and be released.
         std::holds_alternative<wire::EscrowOpen>(m) ||
         std::holds_alternative<wire::EscrowDeposit>(m) ||
         std::holds_alternative<wire::EscrowCancel>(m);
}

wire::ErrorReply error_reply(RelayErrorCode code) { return wire::ErrorReply{code}; }

constexpr std::int64_t kHourMs = 60LL * 60 * 1000;

class RelayServiceImpl final : public RelayCore {
 public:
  RelayServiceImpl(const RelayConfig& config, crypto::Ed25519KeyPair signing_key,
                   std::unique_ptr<store::RelayStore> store, Outbox& outbox, Clock& clock, Rng& rng,
                   const store::RelayStoreStats& stats)
      : config_(config),
        signing_key_(std::move(signing_key)),
        store_(std::move(store)),
        outbox_(outbox),
        clock_(clock),
        rng_(rng),
        escrow_(
            EscrowLimits{config.escrow_max_deadline_ms, config.escrow_retention_ms,
                         config.max_escrows},
            signing_key_.private_key,
            [this](std::span<std::uint8_t> out) {
              std::lock_guard rng_lock(rng_mu_);
              rng_.fill(out);
            },
            stats.escrows),
        fsync_seconds_({0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0}),
        batch_sizes_({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}) {
    queues_ = stats.queues;
    stored_envelopes_ = stats.usage.envelopes;
    stored_bytes_ = stats.usage.bytes;
    last_purge_ms_ = clock_.now_ms() - config_.purge_interval_ms;  // purge at the first batch
    worker_ = std::thread([this] { run(); });
  }

  ~RelayServiceImpl() override { shutdown(); }

  void on_open(ConnectionId connection) override {
    std::lock_guard lock(mu_);
    Connection c;
    c.milli_tokens = static_cast<std::int64_t>(config_.request_burst) * 1000;
    c.last_refill_ms = clock_.now_ms();
    conns_[connection] = c;
  }

  void on_frame(ConnectionId connection, ByteView frame) override {
    Result<wire::RelayFrame> decoded = wire::decode_relay_frame(frame);
    crypto::Sha256Digest envelope_hash{};
    if (decoded) {
      if (const auto* d = std::get_if<wire::Deposit>(&decoded->message)) {
        envelope_hash = crypto::sha256(d->envelope);
      }
    }
    std::optional<wire::RelayMessage> immediate;
    wire::RequestId request_id = 0;
    bool close = false;
    {
      std::lock_guard lock(mu_);
      auto it = conns_.find(connection);
      if (it == conns_.end() || it->second.closed) return;
      Connection& conn = it->second;
      if (!decoded || !wire::is_request(decoded->message)) {
        malformed_frames_.fetch_add(1);
        conn.closed = true;
        close = true;
        immediate = error_reply(decode_error_code(decoded, frame));
      } else {
        request_id = decoded->request_id;
        if (!take_token(conn)) {
          rate_limited_.fetch_add(1);
          immediate = error_reply(RelayErrorCode::kRateLimited);
        } else if (stopping_) {
          immediate = error_reply(RelayErrorCode::kRelayFull);
        } else if (std::holds_alternative<wire::Hello>(decoded->message)) {
          if (!conn.challenge) {
            wire::Challenge challenge{};
            {
              std::lock_guard rng_lock(rng_mu_);
              rng_.fill(challenge);
            }
            conn.challenge = challenge;
          }
          immediate = wire::ChallengeReply{*conn.challenge, signing_key_.public_key.bytes};
        } else if (!conn.challenge) {
          immediate = error_reply(RelayErrorCode::kHandshakeRequired);
        } else if (pending_.size() >= config_.max_pending_requests ||
                   pending_bytes_ + frame.size() > config_.max_pending_bytes) {
          immediate = error_reply(RelayErrorCode::kRelayFull);
        } else {
          Op op;
          op.connection = connection;
          op.request_id = request_id;
          op.request = std::move(decoded->message);
          op.challenge = *conn.challenge;
          op.frame_bytes = frame.size();
          op.envelope_hash = envelope_hash;
          pending_bytes_ += frame.size();
          pending_.push_back(std::move(op));
          ++enqueued_;
          work_cv_.notify_one();
        }
      }
    }
    if (immediate) {
      send(connection, request_id, std::move(*immediate));
      outbox_.flush();
    }
    if (close) outbox_.close(connection);
  }

  void on_close(ConnectionId connection) override {
    std::lock_guard lock(mu_);
    if (conns_.erase(connection) == 0) return;
    Op op;
    op.connection = connection;
    op.is_close = true;
    pending_.push_back(std::move(op));
    ++enqueued_;
    work_cv_.notify_one();
  }

  [[nodiscard]] std::string metrics_text() const override {
    std::ostringstream out;
    auto gauge = [&out](const char* name, const char* help, std::uint64_t v, const char* type) {
      out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n'
          << name << ' ' << v << '\n';
    };
    gauge("bc_relay_queues", "Queues stored.", queues_.load(), "gauge");
    gauge("bc_relay_stored_envelopes", "Envelopes stored, not yet acknowledged.",
          stored_envelopes_.load(), "gauge");
    gauge("bc_relay_stored_bytes", "Bytes of stored envelopes.", stored_bytes_.load(), "gauge");
    gauge("bc_relay_subscriptions", "Active queue subscriptions.", subscriptions_.load(), "gauge");
    gauge("bc_relay_deposits_total", "Deposits durably stored and acknowledged.", deposits_.load(),
          "counter");
    gauge("bc_relay_deposits_rejected_total", "Deposits refused (unknown or full queue).",
          deposits_rejected_.load(), "counter");
    gauge("bc_relay_deliveries_total", "Envelopes pushed to subscribers (redeliveries included).",
          deliveries_.load(), "counter");
    gauge("bc_relay_acks_total", "Envelopes deleted on acknowledgement.", acks_.load(), "counter");
    gauge("bc_relay_expired_envelopes_total", "Envelopes purged after their TTL.", expired_.load(),
          "counter");
    gauge("bc_relay_malformed_frames_total", "Frames that closed their connection.",
          malformed_frames_.load(), "counter");
    gauge("bc_relay_rate_limited_total", "Requests refused by the per-connection rate limit.",
          rate_limited_.load(), "counter");
    gauge("bc_relay_storage_errors_total", "Batches whose transaction failed.",
          storage_errors_.load(), "counter");
    gauge("bc_relay_commits_total", "Store transactions committed.", commits_.load(), "counter");
    gauge("bc_relay_escrows", "Escrow exchanges held (open, or a terminal record).", escrow_.held(),
          "gauge");
    gauge("bc_relay_escrow_releases_total", "Escrow exchanges released.", escrow_.released_total(),
          "counter");
    gauge("bc_relay_escrow_expired_total", "Escrow exchanges expired at their deadline.",
          escrow_.expired_total(), "counter");
    fsync_seconds_.render(out, "bc_relay_fsync_seconds",
                          "Durable commit latency (transaction and fsync), seconds.");
    batch_sizes_.render(out, "bc_relay_commit_batch_size",
                        "Requests sharing one store transaction (group commit).");
    return out.str();
  }

  void flush() override {
    std::unique_lock lock(mu_);
    const std::uint64_t target = enqueued_;
    done_cv_.wait(lock, [&] { return done_ >= target || worker_exited_; });
  }

  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      if (stopping_) {
        if (!worker_.joinable()) return;
      }
      stopping_ = true;
      work_cv_.notify_all();
    }
    if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) worker_.join();
  }

 private:
  static RelayErrorCode decode_error_code(const Result<wire::RelayFrame>& decoded, ByteView frame) {
    if (decoded) return RelayErrorCode::kMalformed;  // a reply-type frame from a client
    if (decoded.error().code == Errc::kUnsupportedVersion) {
      return RelayErrorCode::kUnsupportedVersion;
    }
    // A deposit whose envelope length is not a padding bucket gets the specific code.
    constexpr std::size_t kLengthOffset = wire::kRelayHeaderSize + wire::kQueueIdSize;
    if (frame.size() >= kLengthOffset + 4 && frame[1] == 0x04) {
      std::size_t size = 0;
      for (std::size_t i = 0; i < 4; ++i) size = (size << 8) | frame[kLengthOffset + i];
      if (!wire::is_envelope_bucket(size)) return RelayErrorCode::kBadEnvelopeSize;
    }
    // So does an escrow deposit (its envelope follows the exchange id and the token).
    constexpr std::size_t kEscrowLengthOffset =
        wire::kRelayHeaderSize + wire::kExchangeIdSize + wire::kEscrowTokenSize;
    if (frame.size() >= kEscrowLengthOffset + 4 && frame[1] == 0x11) {
      std::size_t size = 0;
      for (std::size_t i = 0; i < 4; ++i) size = (size << 8) | frame[kEscrowLengthOffset + i];
      if (!wire::is_envelope_bucket(size)) return RelayErrorCode::kBadEnvelopeSize;
    }
    return RelayErrorCode::kMalformed;
  }

  bool take_token(Connection& conn) {
    const std::int64_t now = clock_.now_ms();
    const std::int64_t elapsed = std::max<std::int64_t>(0, now - conn.last_refill_ms);
    conn.last_refill_ms = std::max(conn.last_refill_ms, now);
    const std::int64_t cap = static_cast<std::int64_t>(config_.request_burst) * 1000;
    conn.milli_tokens = std::min(
        cap, conn.milli_tokens + elapsed * static_cast<std::int64_t>(config_.requests_per_second));
    if (conn.milli_tokens < 1000) return false;
    conn.milli_tokens -= 1000;
    return true;
  }

  void send(ConnectionId connection, wire::RequestId request_id, wire::RelayMessage message) {
    if (std::holds_alternative<wire::Delivery>(message)) request_id = 0;
    Result<Bytes> frame =
        wire::encode_relay_frame(wire::RelayFrame{request_id, std::move(message)});
    BC_CHECK(frame.has_value());  // the service only builds frames within the wire caps
    outbox_.send(connection, std::move(frame).value());
  }

  void run() {
    while (true) {
      std::vector<Op> batch;
      {
        std::unique_lock lock(mu_);
        // Wake at least once per purge interval (at most an hour, so that a huge configured
        // interval cannot overflow the wait), so that expired envelopes and escrow deposits are
        // deleted on time even when no request arrives.
        const std::int64_t wake_ms = std::min<std::int64_t>(config_.purge_interval_ms, kHourMs);
        work_cv_.wait_for(lock, std::chrono::milliseconds(wake_ms),
                          [&] { return !pending_.empty() || stopping_; });
        if (pending_.empty() && stopping_) break;
        const std::size_t n = std::min(pending_.size(), config_.max_batch);
        batch.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
          pending_bytes_ -= pending_.front().frame_bytes;
          batch.push_back(std::move(pending_.front()));
          pending_.pop_front();
        }
      }
      // An empty batch is a timed wake-up: it only purges, and only when a purge is due.
      if (batch.empty() && clock_.now_ms() - last_purge_ms_ < config_.purge_interval_ms) continue;
      process_batch(batch);
      {
        std::lock_guard lock(mu_);
        done_ += batch.size();
      }
      done_cv_.notify_all();
    }
    std::lock_guard lock(mu_);
    worker_exited_ = true;
    done_cv_.notify_all();
  }

  // subscribed_here tells whether `connection` may act as owner of `recipient_id` (committed
  // subscriptions plus those verified earlier in this batch).
  bool subscribed_here(ConnectionId connection, const QueueId& recipient_id,
                       const std::set<std::pair<ConnectionId, QueueId>>& pending) const {
    if (pending.contains({connection, recipient_id})) return true;
    auto it = subs_.find(recipient_id);
    return it != subs_.end() && it->second.connection == connection;
  }

  std::size_t subscription_count(ConnectionId connection) const {
    auto it = subs_by_conn_.find(connection);
    return it == subs_by_conn_.end() ? 0 : it->second.size();
  }

  Result<void> run_requests(RelayStoreTxn& txn, std::vector<Op>& batch,
                            std::vector<Outcome>& outcomes, std::int64_t now, bool purge,
                            RelayUsage& purged) {
    outcomes.assign(batch.size(), Outcome{});
    std::set<std::pair<ConnectionId, QueueId>> pending_subs;
    std::uint64_t created = 0;
    escrow_.begin_batch();
    if (purge) {
      BC_ASSIGN_OR_RETURN(purged, txn.purge_expired(now - config_.message_ttl_ms));
      BC_TRY(escrow_.purge(txn, now));
    }
    // A store failure other than a logical one dooms the transaction.
    auto doomed = [](const Error& e) {
      return e.code == Errc::kUnavailable || e.code == Errc::kInternal ||
             e.code == Errc::kMalformed;
    };
    for (std::size_t i = 0; i < batch.size(); ++i) {
      Op& op = batch[i];
      Outcome& out = outcomes[i];
      if (op.is_close) {
        out.effect = ClosedEffect{};
        for (auto it = pending_subs.begin(); it != pending_subs.end();) {
          it = it->first == op.connection ? pending_subs.erase(it) : std::next(it);
        }
        continue;
      }
      Result<void> step = std::visit(
          [&](auto& m) -> Result<void> {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, wire::CreateQueue>) {
              if (queues_.load() + created >= config_.max_queues) {
                out.reply = error_reply(RelayErrorCode::kRelayFull);
                return ok();
              }
              store::RelayQueueRecord rec;
              {
                std::lock_guard rng_lock(rng_mu_);
                rng_.fill(rec.sender_id);
                rng_.fill(rec.recipient_id);
              }
              rec.owner_key = m.owner_key;
              rec.max_messages = config_.queue_max_messages;
              rec.max_bytes = config_.queue_max_bytes;
              rec.created_ms = now;
              Result<void> r = txn.create_queue(rec);
              if (!r) {
                if (doomed(r.error())) return r;
                out.reply = error_reply(RelayErrorCode::kConflict);
                return ok();
              }
              ++created;
              out.reply = wire::QueueCreated{rec.sender_id, rec.recipient_id};
              out.effect = QueueCreatedEffect{};
            } else if constexpr (std::is_same_v<T, wire::Subscribe>) {
              const bool already = subscribed_here(op.connection, m.recipient_id, pending_subs);
              std::size_t count = subscription_count(op.connection);
              for (const auto& p : pending_subs) count += p.first == op.connection ? 1 : 0;
              if (!already && count >= config_.max_subscriptions_per_connection) {
                out.reply = error_reply(RelayErrorCode::kTooManySubscriptions);
                return ok();
              }
              Result<store::RelayQueueRecord> q = txn.find_queue(m.recipient_id);
              if (!q) {
                if (doomed(q.error())) return fail(std::move(q).error());
                out.reply = error_reply(RelayErrorCode::kNotFound);
                return ok();
              }
              const auto key = crypto::Ed25519PublicKey{q->owner_key};
              const Bytes proof = wire::subscribe_proof_message(op.challenge, m.recipient_id);
              if (!crypto::ed25519_verify(key, proof, m.signature)) {
                out.reply = error_reply(RelayErrorCode::kAuthFailed);
                return ok();
              }
              pending_subs.insert({op.connection, m.recipient_id});
              out.reply = wire::Ok{};
              out.effect = SubscribedEffect{m.recipient_id};
            } else if constexpr (std::is_same_v<T, wire::Deposit>) {
              // The receipt is signed with the whole batch's once it has committed
              // (sign_receipts): one signature per batch, not per deposit.
              Result<store::AppendedEnvelope> appended =
                  txn.append_envelope(m.sender_id, m.envelope, now);
              if (!appended) {
                if (doomed(appended.error())) return fail(std::move(appended).error());
                out.reply = error_reply(appended.error().code == Errc::kLimitExceeded
                                            ? RelayErrorCode::kQueueFull
                                            : RelayErrorCode::kNotFound);
                out.effect = DepositedEffect{{}, 0, 0, nullptr, {}};
                return ok();
              }
              out.reply = wire::DepositReceipt{appended->message_id, now, op.envelope_hash, {}};
              out.effect = DepositedEffect{
                  appended->recipient_id, appended->message_id, now, &m.envelope, {}};
            } else if constexpr (std::is_same_v<T, wire::Ack>) {
              if (!subscribed_here(op.connection, m.recipient_id, pending_subs)) {
                out.reply = error_reply(RelayErrorCode::kNotSubscribed);
                return ok();
              }
              Result<std::uint64_t> size = txn.delete_envelope(m.recipient_id, m.message_id);
              if (!size) {
                if (doomed(size.error())) return fail(std::move(size).error());
                out.reply = error_reply(RelayErrorCode::kNotFound);
                out.effect = AckedEffect{m.recipient_id, {m.message_id}, 0, 0};
                return ok();
              }
              out.reply = wire::Ok{};
              out.effect = AckedEffect{m.recipient_id, {m.message_id}, 1, *size};
            } else if constexpr (std::is_same_v<T, wire::AckMany>) {
              if (!subscribed_here(op.connection, m.recipient_id, pending_subs)) {
                out.reply = error_reply(RelayErrorCode::kNotSubscribed);
                return ok();
              }
              AckedEffect acked{m.recipient_id, m.message_ids, 0, 0};
              // Ids no longer stored (acknowledged before, or past the queue's TTL) are skipped.
              Result<store::RelayUsage> gone = txn.delete_envelopes(m.recipient_id, m.message_ids);
              if (gone) {
                acked.deleted = gone->envelopes;
                acked.bytes = gone->bytes;
              } else if (doomed(gone.error())) {
                return fail(std::move(gone).error());
              }
              out.reply = wire::Ok{};
              out.effect = std::move(acked);
            } else if constexpr (std::is_same_v<T, wire::DeleteQueue>) {
              if (!subscribed_here(op.connection, m.recipient_id, pending_subs)) {
                out.reply = error_reply(RelayErrorCode::kNotSubscribed);
                return ok();
              }
              Result<RelayUsage> usage = txn.delete_queue(m.recipient_id);
              if (!usage) {
                if (doomed(usage.error())) return fail(std::move(usage).error());
                out.reply = error_reply(RelayErrorCode::kNotFound);
                return ok();
              }
              for (auto it = pending_subs.begin(); it != pending_subs.end();) {
                it = it->second == m.recipient_id ? pending_subs.erase(it) : std::next(it);
              }
              out.reply = wire::Ok{};
              out.effect = QueueDeletedEffect{m.recipient_id, *usage};
            } else if constexpr (std::is_same_v<T, wire::PublishBundle>) {
              if (!subscribed_here(op.connection, m.recipient_id, pending_subs)) {
                out.reply = error_reply(RelayErrorCode::kNotSubscribed);
                return ok();
              }
              store::StoredBundle bundle{m.bundle.identity_key, m.bundle.signed_prekey,
                                         m.bundle.one_time_prekeys};
              Result<void> r = txn.put_bundle(m.recipient_id, bundle);
              if (!r) {
                if (doomed(r.error())) return r;
                out.reply = error_reply(RelayErrorCode::kNotFound);
                return ok();
              }
              out.reply = wire::Ok{};
            } else if constexpr (std::is_same_v<T, wire::FetchBundle>) {
              Result<store::TakenBundle> b = txn.take_bundle(m.sender_id);
              if (!b) {
                if (doomed(b.error())) return fail(std::move(b).error());
                out.reply = error_reply(RelayErrorCode::kNotFound);
                return ok();
              }
              out.reply = wire::BundleReply{std::move(b->identity_key), std::move(b->signed_prekey),
                                            std::move(b->one_time_prekey)};
            } else if constexpr (std::is_same_v<T, wire::EscrowOpen> ||
                                 std::is_same_v<T, wire::EscrowDeposit> ||
                                 std::is_same_v<T, wire::EscrowCancel> ||
                                 std::is_same_v<T, wire::EscrowStatus>) {
              BC_ASSIGN_OR_RETURN(EscrowOutcome e, escrow_.handle(txn, m, now));
              out.reply = std::move(e.reply);
              if (!e.released.empty()) out.effect = EscrowReleasedEffect{std::move(e.released)};
            } else {
              // Hello is answered on the transport thread; replies never reach here.
              out.reply = error_reply(RelayErrorCode::kInternal);
            }
            return ok();
          },
          op.request);
      BC_TRY(std::move(step));
    }
    return ok();
  }

  void process_batch(std::vector<Op>& batch) {
    const std::int64_t now = clock_.now_ms();
    const bool purge = now - last_purge_ms_ >= config_.purge_interval_ms;
    bool durable = false;
    std::size_t requests = 0;
    for (const Op& op : batch) {
      if (op.is_close) continue;
      ++requests;
      durable = durable || needs_durable_commit(op.request);
    }
    std::vector<Outcome> outcomes;
    RelayUsage purged;
    bool committed = true;
    if (requests > 0 || purge) {
      const auto start = std::chrono::steady_clock::now();
      Result<void> r = store_->write(
          durable ? Durability::kDurable : Durability::kRelaxed, [&](RelayStoreTxn& txn) {
            return run_requests(txn, batch, outcomes, now, purge, purged);
          });
      if (r) {
        commits_.fetch_add(1);
        escrow_.commit_batch();
        if (durable) {
          fsync_seconds_.observe(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        }
        if (requests > 0) batch_sizes_.observe(static_cast<double>(requests));
        if (purge) {
          last_purge_ms_ = now;
          expired_.fetch_add(purged.envelopes);
          stored_envelopes_.fetch_sub(std::min(stored_envelopes_.load(), purged.envelopes));
          stored_bytes_.fetch_sub(std::min(stored_bytes_.load(), purged.bytes));
        }
      } else {
        committed = false;
        storage_errors_.fetch_add(1);
        std::fprintf(stderr, "backchannel-relay: store transaction failed: %s\n",
                     r.error().message().c_str());
      }
    } else {
      outcomes.assign(batch.size(), Outcome{});
    }
    if (outcomes.size() != batch.size()) outcomes.assign(batch.size(), Outcome{});
    if (committed) sign_receipts(batch, outcomes);

    std::set<QueueId> refill;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      Op& op = batch[i];
      if (op.is_close) {
        drop_connection(op.connection);
        continue;
      }
      if (!committed) {
        if (std::holds_alternative<wire::Deposit>(op.request)) deposits_rejected_.fetch_add(1);
        send(op.connection, op.request_id, error_reply(RelayErrorCode::kStorageUnavailable));
        continue;
      }
      Outcome& out = outcomes[i];
      if (out.reply) send(op.connection, op.request_id, std::move(*out.reply));
      apply_effect(op.connection, out.effect, refill);
    }
    refill_subscriptions(refill, now);
    // The batch's replies and pushes may be held per connection until here: one send each.
    outbox_.flush();
  }

  bool connection_open(ConnectionId connection) {
    std::lock_guard lock(mu_);
    auto it = conns_.find(connection);
    return it != conns_.end() && !it->second.closed;
  }

  void remove_subscription(const QueueId& recipient_id) {
    auto it = subs_.find(recipient_id);
    if (it == subs_.end()) return;
    auto c = subs_by_conn_.find(it->second.connection);
    if (c != subs_by_conn_.end()) {
      c->second.erase(recipient_id);
      if (c->second.empty()) subs_by_conn_.erase(c);
    }
    subs_.erase(it);
    subscriptions_.fetch_sub(1);
  }

  void drop_connection(ConnectionId connection) {
    auto c = subs_by_conn_.find(connection);
    if (c == subs_by_conn_.end()) return;
    const std::set<QueueId> ids = c->second;
    for (const QueueId& id : ids) remove_subscription(id);
  }

  // fits tells whether a window with `count` pushes of `bytes` in flight takes one more of
  // `size`: fewer than push_window and their bytes within push_window_bytes, or none at all.
  bool fits(std::size_t count, std::uint64_t bytes, std::size_t size) const {
    return count == 0 || (count < config_.push_window && bytes + size <= config_.push_window_bytes);
  }
  bool has_room(const Subscription& sub, std::size_t size) const {
    return fits(sub.in_flight.size(), sub.in_flight_bytes, size);
  }

  void push(const QueueId& recipient_id, Subscription& sub, wire::MessageId message_id,
            std::int64_t received_ms, const wire::ReceiptProof& proof, const Bytes& body) {
    sub.delivered_up_to = message_id;
    if (sub.in_flight.emplace(message_id, body.size()).second) sub.in_flight_bytes += body.size();
    deliveries_.fetch_add(1);
    send(sub.connection, 0, wire::Delivery{recipient_id, message_id, received_ms, proof, body});
  }

  // ToSign is the receipts of one batch, and where each one's proof goes once signed.
  struct ToSign {
    struct Target {
      wire::ReceiptProof* effect = nullptr;
      wire::ReceiptProof* reply = nullptr;  // a deposit's receipt also answers the depositor
    };
    std::vector<protocol::Receipt> receipts;
    std::vector<Target> targets;

    void add(const QueueId& sender_id, const crypto::Sha256Digest& envelope_hash,
             wire::MessageId message_id, std::int64_t received_ms, Target target) {
      receipts.push_back({sender_id, envelope_hash, message_id, received_ms, std::nullopt, {}});
      targets.push_back(target);
    }
  };

  // sign_all signs the receipts in `work` as one batch: one Ed25519 signature over the root of
  // their Merkle tree per kMaxReceiptBatch receipts (protocol/receipt.hpp), and each one's path.
  void sign_all(ToSign& work) const {
    const std::span<protocol::Receipt> all(work.receipts);
    for (std::size_t at = 0; at < all.size(); at += wire::kMaxReceiptBatch) {
      const std::span<protocol::Receipt> chunk =
          all.subspan(at, std::min<std::size_t>(all.size() - at, wire::kMaxReceiptBatch));
      // Message ids start at 1 and relay times are never negative: signing cannot fail.
      BC_CHECK(protocol::sign_receipts(chunk, signing_key_.private_key).has_value());
    }
    for (std::size_t i = 0; i < all.size(); ++i) {
      wire::ReceiptProof proof = protocol::proof_of(all[i]);
      if (work.targets[i].reply != nullptr) *work.targets[i].reply = proof;
      *work.targets[i].effect = std::move(proof);
    }
  }

  // sign_receipts signs the receipts of every envelope the committed batch appended: deposits
  // (answering the depositor and, through the effect, the subscribed owner) and escrow releases.
  void sign_receipts(std::vector<Op>& batch, std::vector<Outcome>& outcomes) const {
    ToSign work;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      Outcome& out = outcomes[i];
      if (auto* e = std::get_if<DepositedEffect>(&out.effect); e != nullptr && e->body) {
        const auto& deposit = std::get<wire::Deposit>(batch[i].request);
        auto& reply = std::get<wire::DepositReceipt>(*out.reply);
        work.add(deposit.sender_id, batch[i].envelope_hash, e->message_id, e->received_ms,
                 {&e->proof, &reply.proof});
      } else if (auto* r = std::get_if<EscrowReleasedEffect>(&out.effect)) {
        for (EscrowRelease& released : r->released) {
          work.add(released.sender_id, crypto::sha256(released.body), released.message_id,
                   released.received_ms, {&released.proof, nullptr});
        }
      }
    }
    if (!work.receipts.empty()) sign_all(work);
  }

  void apply_effect(ConnectionId connection, const Effect& effect, std::set<QueueId>& refill) {
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, SubscribedEffect>) {
            if (!connection_open(connection)) return;
            remove_subscription(e.recipient_id);  // a new subscriber takes the queue over
            Subscription sub;
            sub.connection = connection;
            subs_[e.recipient_id] = std::move(sub);
            subs_by_conn_[connection].insert(e.recipient_id);
            subscriptions_.fetch_add(1);
            refill.insert(e.recipient_id);
          } else if constexpr (std::is_same_v<T, DepositedEffect>) {
            if (e.body == nullptr) {
              deposits_rejected_.fetch_add(1);
              return;
            }
            deposits_.fetch_add(1);
            stored_envelopes_.fetch_add(1);
            stored_bytes_.fetch_add(e.body->size());
            auto it = subs_.find(e.recipient_id);
            if (it == subs_.end()) return;
            Subscription& sub = it->second;
            if (e.message_id <= sub.delivered_up_to) return;  // already pushed by a refill
            if (!sub.backlog && has_room(sub, e.body->size())) {
              push(e.recipient_id, sub, e.message_id, e.received_ms, e.proof, *e.body);
            } else {
              sub.backlog = true;
            }
          } else if constexpr (std::is_same_v<T, AckedEffect>) {
            acks_.fetch_add(e.deleted);
            stored_envelopes_.fetch_sub(std::min(stored_envelopes_.load(), e.deleted));
            stored_bytes_.fetch_sub(std::min(stored_bytes_.load(), e.bytes));
            auto it = subs_.find(e.recipient_id);
            if (it == subs_.end() || it->second.connection != connection) return;
            Subscription& sub = it->second;
            for (const wire::MessageId id : e.ids) {
              auto f = sub.in_flight.find(id);
              if (f == sub.in_flight.end()) continue;
              sub.in_flight_bytes -= f->second;
              sub.in_flight.erase(f);
            }
            if (it->second.backlog) refill.insert(e.recipient_id);
          } else if constexpr (std::is_same_v<T, QueueDeletedEffect>) {
            queues_.fetch_sub(std::min<std::uint64_t>(queues_.load(), 1));
            stored_envelopes_.fetch_sub(std::min(stored_envelopes_.load(), e.usage.envelopes));
            stored_bytes_.fetch_sub(std::min(stored_bytes_.load(), e.usage.bytes));
            remove_subscription(e.recipient_id);
            refill.erase(e.recipient_id);
          } else if constexpr (std::is_same_v<T, QueueCreatedEffect>) {
            queues_.fetch_add(1);
          } else if constexpr (std::is_same_v<T, EscrowReleasedEffect>) {
            // Released envelopes are ordinary deposits from here on: counted, pushed to a
            // subscribed owner within its window, or left for the next refill.
            for (const EscrowRelease& r : e.released) {
              apply_effect(
                  connection,
                  DepositedEffect{r.recipient_id, r.message_id, r.received_ms, &r.body, r.proof},
                  refill);
            }
          }
        },
        effect);
  }

  // take_backlog lists what `sub` has not been pushed yet, kRefillChunk envelopes per store read,
  // into `out` while the window has room, so that a refill holds at most one chunk beyond the
  // window's own bytes. `exhausted`: the store holds nothing more for the subscription now.
  Result<void> take_backlog(RelayStoreTxn& txn, const QueueId& recipient_id,
                            const Subscription& sub, std::int64_t now,
                            std::vector<store::StoredEnvelope>& out, bool& exhausted) const {
    constexpr std::size_t kRefillChunk = 64;
    std::size_t count = sub.in_flight.size();
    std::uint64_t bytes = sub.in_flight_bytes;
    wire::MessageId after = sub.delivered_up_to;
    while (count < config_.push_window) {
      const std::size_t ask = std::min<std::size_t>(kRefillChunk, config_.push_window - count);
      Result<std::vector<store::StoredEnvelope>> list =
          txn.list_envelopes(recipient_id, after, now - config_.message_ttl_ms, ask);
      std::vector<store::StoredEnvelope> listed;
      if (list) {
        listed = std::move(list).value();
      } else if (list.error().code != Errc::kNotFound) {
        return fail(std::move(list).error());
      }
      for (store::StoredEnvelope& env : listed) {
        if (!fits(count, bytes, env.body.size())) return ok();  // listed again after an ack
        ++count;
        bytes += env.body.size();
        after = env.message_id;
        out.push_back(std::move(env));
      }
      if (listed.size() < ask) {
        exhausted = true;
        return ok();
      }
    }
    return ok();
  }

  // refill_subscriptions pushes stored envelopes to subscriptions with room in their window.
  void refill_subscriptions(const std::set<QueueId>& refill, std::int64_t now) {
    if (refill.empty()) return;
    struct Pending {
      QueueId id;
      std::vector<store::StoredEnvelope> envelopes;  // in order, all within the window
      std::vector<wire::ReceiptProof> proofs;        // one per envelope, once signed
      bool exhausted = false;  // the store holds nothing more for this subscription now
      QueueId sender_id{};     // names the queue in its receipts
    };
    std::vector<Pending> work;
    for (const QueueId& id : refill) {
      auto it = subs_.find(id);
      if (it == subs_.end() || !it->second.backlog) continue;
      if (!has_room(it->second, 0)) continue;
      work.push_back({id, {}, {}, false, {}});
    }
    if (work.empty()) return;
    Result<void> r = store_->read([&](RelayStoreTxn& txn) -> Result<void> {
      for (Pending& p : work) {
        BC_TRY(take_backlog(txn, p.id, subs_.at(p.id), now, p.envelopes, p.exhausted));
        if (p.envelopes.empty()) continue;
        Result<store::RelayQueueRecord> q = txn.find_queue(p.id);
        if (!q) return fail(std::move(q).error());
        p.sender_id = q->sender_id;
      }
      return ok();
    });
    if (!r) {
      storage_errors_.fetch_add(1);
      std::fprintf(stderr, "backchannel-relay: store read failed: %s\n",
                   r.error().message().c_str());
      return;  // the backlog flag stays set: the next ack or subscribe retries
    }
    // The receipts of everything this refill pushes are signed as one batch. They state what
    // the depositor's receipt stated (queue, envelope hash, message id, time), under another root.
    ToSign to_sign;
    for (Pending& p : work) {
      p.proofs.resize(p.envelopes.size());
      for (std::size_t i = 0; i < p.envelopes.size(); ++i) {
        const store::StoredEnvelope& env = p.envelopes[i];
        to_sign.add(p.sender_id, crypto::sha256(env.body), env.message_id, env.received_ms,
                    {&p.proofs[i], nullptr});
      }
    }
    if (!to_sign.receipts.empty()) sign_all(to_sign);
    for (Pending& p : work) {
      auto it = subs_.find(p.id);
      if (it == subs_.end()) continue;
      for (std::size_t i = 0; i < p.envelopes.size(); ++i) {
        const store::StoredEnvelope& env = p.envelopes[i];
        push(p.id, it->second, env.message_id, env.received_ms, p.proofs[i], env.body);
      }
      if (p.exhausted) it->second.backlog = false;
    }
  }

  const RelayConfig config_;
  // The relay's own signing key (never logged); its public half is in every ChallengeReply.
  const crypto::Ed25519KeyPair signing_key_;
  std::unique_ptr<store::RelayStore> store_;
  Outbox& outbox_;
  Clock& clock_;
  Rng& rng_;
  std::mutex rng_mu_;
  // Escrow exchanges (writer thread; its counters are read by the metrics).
  EscrowService escrow_;

  // Guarded by mu_.
  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::unordered_map<ConnectionId, Connection> conns_;
  std::deque<Op> pending_;
  std::size_t pending_bytes_ = 0;
  std::uint64_t enqueued_ = 0;
  std::uint64_t done_ = 0;
  bool stopping_ = false;
  bool worker_exited_ = false;

  // Writer thread only.
  std::map<QueueId, Subscription> subs_;
  std::unordered_map<ConnectionId, std::set<QueueId>> subs_by_conn_;
  std::int64_t last_purge_ms_ = 0;

  // Metrics.
  std::atomic<std::uint64_t> queues_{0};
  std::atomic<std::uint64_t> stored_envelopes_{0};
  std::atomic<std::uint64_t> stored_bytes_{0};
  std::atomic<std::uint64_t> subscriptions_{0};
  std::atomic<std::uint64_t> deposits_{0};
  std::atomic<std::uint64_t> deposits_rejected_{0};
  std::atomic<std::uint64_t> deliveries_{0};
  std::atomic<std::uint64_t> acks_{0};
  std::atomic<std::uint64_t> expired_{0};
  std::atomic<std::uint64_t> malformed_frames_{0};
  std::atomic<std::uint64_t> rate_limited_{0};
  std::atomic<std::uint64_t> storage_errors_{0};
  std::atomic<std::uint64_t> commits_{0};
  Histogram fsync_seconds_;
  Histogram batch_sizes_;

  std::thread worker_;
};

}  // namespace

Result<void> validate_relay_config(const RelayConfig& c) {
  if (c.message_ttl_ms <= 0) return fail(Errc::kMalformed, "relay config: message_ttl_ms");
  if (c.purge_interval_ms <= 0) return fail(Errc::kMalformed, "relay config: purge_interval_ms");
  if (c.queue_max_messages == 0) return fail(Errc::kMalformed, "relay config: queue_max_messages");
  if (c.queue_max_bytes == 0) return fail(Errc::kMalformed, "relay config: queue_max_bytes");
  if (c.max_queues == 0) return fail(Errc::kMalformed, "relay config: max_queues");
  if (c.max_subscriptions_per_connection == 0) {
    return fail(Errc::kMalformed, "relay config: max_subscriptions_per_connection");
  }
  if (c.requests_per_second == 0)
    return fail(Errc::kMalformed, "relay config: requests_per_second");
  if (c.request_burst == 0) return fail(Errc::kMalformed, "relay config: request_burst");
  if (c.push_window == 0) return fail(Errc::kMalformed, "relay config: push_window");
  if (c.push_window_bytes == 0) return fail(Errc::kMalformed, "relay config: push_window_bytes");
  if (c.max_batch == 0) return fail(Errc::kMalformed, "relay config: max_batch");
  if (c.max_pending_requests == 0) {
    return fail(Errc::kMalformed, "relay config: max_pending_requests");
  }
  if (c.escrow_max_deadline_ms <= 0) {
    return fail(Errc::kMalformed, "relay config: escrow_max_deadline_ms");
  }
  if (c.escrow_retention_ms < 0) return fail(Errc::kMalformed, "relay config: escrow_retention_ms");
  if (c.max_escrows == 0) return fail(Errc::kMalformed, "relay config: max_escrows");
  if (c.max_pending_bytes < wire::kMaxRelayFrameSize) {
    return fail(Errc::kMalformed, "relay config: max_pending_bytes is below one frame");
  }
  return ok();
}

Result<std::unique_ptr<RelayCore>> make_relay_service(const RelayConfig& config,
                                                      crypto::Ed25519KeyPair signing_key,
                                                      std::unique_ptr<store::RelayStore> store,
                                                      Outbox& outbox, Clock& clock, Rng& rng) {
  BC_TRY(validate_relay_config(config));
  if (!store) return fail(Errc::kMalformed, "relay: no store");
  BC_ASSIGN_OR_RETURN(store::RelayStoreStats stats, store->stats());
  return std::unique_ptr<RelayCore>(std::make_unique<RelayServiceImpl>(
      config, std::move(signing_key), std::move(store), outbox, clock, rng, stats));
}

}  // namespace bc::relay
