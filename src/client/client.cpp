#include "backchannel/client.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "client/alerts.hpp"
#include "client/assurance_book.hpp"
#include "client/receipts.hpp"
#include "client/record.hpp"
#include "client/relay_link.hpp"
#include "client/relay_routes.hpp"
#include "client/transcript_file.hpp"
#include "client/transcript_log.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/hash.hpp"
#include "crypto/random.hpp"
#include "crypto/xeddsa.hpp"
#include "protocol/fingerprint.hpp"
#include "protocol/invitation.hpp"
#include "protocol/payload.hpp"
#include "protocol/session_cipher.hpp"
#include "store/client_store.hpp"

namespace bc::client {
namespace fs = std::filesystem;
using protocol::PayloadKind;

namespace {

constexpr std::uint8_t kRecordVersion = 1;
constexpr std::size_t kMaxAliasSize = 64;
constexpr std::size_t kMaxFileSize = 48 * 1024;
constexpr std::string_view kIntroductionContext = "backchannel introduction v1";

// Table names of the client store.
constexpr std::string_view kSelf = "self";
constexpr std::string_view kPrekeys = "prekeys";
constexpr std::string_view kRelays = "relays";
constexpr std::string_view kQueues = "queues";
constexpr std::string_view kInvitations = "invitations";
constexpr std::string_view kContacts = "contacts";
constexpr std::string_view kMessages = "messages";
constexpr std::string_view kOutbox = "outbox";
constexpr std::string_view kSeen = "seen";
constexpr std::string_view kIntros = "intros";
constexpr std::string_view kConfig = "config";

enum class QueuePurpose : std::uint8_t { kInvitation = 1, kContact = 2 };

struct SelfRecord {
  std::string name;
  Bytes identity_private;  // 32
  std::uint32_t registration_id = 0;
  std::uint32_t signed_prekey_id = 0;
  Bytes signed_prekey_private;
  protocol::Signature signed_prekey_signature{};
  std::int64_t signed_prekey_ms = 0;
  std::uint32_t next_prekey_id = 1;
  std::uint64_t next_message_seq = 1;

  Bytes encode() const {
    RecordWriter w;
    w.u8(kRecordVersion).str(name).bytes(identity_private).u32(registration_id);
    w.u32(signed_prekey_id).bytes(signed_prekey_private).bytes(signed_prekey_signature);
    w.i64(signed_prekey_ms).u32(next_prekey_id).u64(next_message_seq);
    return w.take();
  }
  static Result<SelfRecord> decode(ByteView b) {
    RecordReader r(b);
    SelfRecord s;
    if (r.u8() != kRecordVersion) return fail(Errc::kUnsupportedVersion, "identity record version");
    s.name = r.str(kMaxAliasSize);
    s.identity_private = r.bytes(32);
    s.registration_id = r.u32();
    s.signed_prekey_id = r.u32();
    s.signed_prekey_private = r.bytes(32);
    s.signed_prekey_signature = r.fixed<64>();
    s.signed_prekey_ms = r.i64();
    s.next_prekey_id = r.u32();
    s.next_message_seq = r.u64();
    BC_TRY(r.finish("identity record"));
    return s;
  }
};

struct RelayRecord {
  std::string url;
  std::array<std::uint8_t, 32> fingerprint{};
  std::uint32_t order = 0;
  std::array<std::uint8_t, 32> signing_key{};  // pinned at the first handshake (zero: not yet)
  Bytes encode() const {
    RecordWriter w;
    w.u8(kRecordVersion).str(url).bytes(fingerprint).u32(order).bytes(signing_key);
    return w.take();
  }
  static Result<RelayRecord> decode(ByteView b) {
    RecordReader r(b);
    RelayRecord x;
    if (r.u8() != kRecordVersion) return fail(Errc::kUnsupportedVersion, "relay record version");
    x.url = r.str(protocol::kMaxRelayUrlSize);
    x.fingerprint = r.fixed<32>();
    x.order = r.u32();
    if (!r.at_end()) x.signing_key = r.fixed<32>();  // absent in records from before receipts
    BC_TRY(r.finish("relay record"));
    return x;
  }
};

struct QueueRecord {
  std::string relay_url;
  wire::QueueId sender_id{};
  wire::QueueId recipient_id{};
  Bytes owner_seed;  // Ed25519 seed, 32
  QueuePurpose purpose = QueuePurpose::kInvitation;
  std::string ref;  // invitation id hex, or contact alias
  Bytes encode() const {
    RecordWriter w;
    w.u8(kRecordVersion).str(relay_url).bytes(sender_id).bytes(recipient_id).bytes(owner_seed);
    w.u8(static_cast<std::uint8_t>(purpose)).str(ref);
    return w.take();
  }
  static Result<QueueRecord> decode(ByteView b) {
    RecordReader r(b);
    QueueRecord q;
    if (r.u8() != kRecordVersion) return fail(Errc::kUnsupportedVersion, "queue record version");
    q.relay_url = r.str(protocol::kMaxRelayUrlSize);
    q.sender_id = r.fixed<16>();
    q.recipient_id = r.fixed<16>();
    q.owner_seed = r.bytes(32);
    q.purpose = static_cast<QueuePurpose>(r.u8());
    q.ref = r.str(256);
    BC_TRY(r.finish("queue record"));
    return q;
  }
};

struct InvitationRecord {
  std::int64_t expires_ms = 0;
  std::uint32_t prekey_id = 0;
  std::string queue_key;  // hex recipient id
  bool used = false;
  std::string intro_id;       // set for invitations made for an introduction
  Bytes expected_identity;    // 33 bytes once the introduction completed
  std::string introduced_by;  // mediator alias
  Bytes encode() const {
    RecordWriter w;
    w.u8(kRecordVersion).i64(expires_ms).u32(prekey_id).str(queue_key).boolean(used);
    w.str(intro_id).bytes(expected_identity).str(introduced_by);
    return w.take();
  }
  static Result<InvitationRecord> decode(ByteView b) {
    RecordReader r(b);
    InvitationRecord x;
    if (r.u8() != kRecordVersion)
      return fail(Errc::kUnsupportedVersion, "invitation record version");
    x.expires_ms = r.i64();
    x.prekey_id = r.u32();
    x.queue_key = r.str(64);
    x.used = r.boolean();
    x.intro_id = r.str(64);
    x.expected_identity = r.bytes(33);
    x.introduced_by = r.str(kMaxAliasSize);
    BC_TRY(r.finish("invitation record"));
    return x;
  }
};

struct ContactRecord {
  std::string alias;
  std::string name;
  Bytes identity;  // 33
  std::string introduced_by;
  bool verified = false;
  Bytes verified_identity;
  bool identity_changed = false;
  protocol::RelayAddress address;  // where we deposit for them
  std::string our_queue_key;       // hex recipient id of the queue they write to
  Bytes session;                   // serialized SessionRecord (empty: none yet)
  std::int64_t added_ms = 0;
  Bytes encode() const {
    RecordWriter w;
    w.u8(kRecordVersion).str(alias).str(name).bytes(identity).str(introduced_by);
    w.boolean(verified).bytes(verified_identity).boolean(identity_changed);
    w.str(address.url).bytes(address.certificate_sha256).bytes(address.queue);
    w.str(our_queue_key).bytes(session).i64(added_ms).bytes(address.relay_key);
    return w.take();
  }
  static Result<ContactRecord> decode(ByteView b) {
    RecordReader r(b);
    ContactRecord c;
    if (r.u8() != kRecordVersion) return fail(Errc::kUnsupportedVersion, "contact record version");
    c.alias = r.str(kMaxAliasSize);
    c.name = r.str(kMaxAliasSize);
    c.identity = r.bytes(33);
    c.introduced_by = r.str(kMaxAliasSize);
    c.verified = r.boolean();
    c.verified_identity = r.bytes(33);
    c.identity_changed = r.boolean();
    c.address.url = r.str(protocol::kMaxRelayUrlSize);
    c.address.certificate_sha256 = r.fixed<32>();
    c.address.queue = r.fixed<16>();
    c.our_queue_key = r.str(64);
    c.session = r.bytes(1 << 22);
    c.added_ms = r.i64();
    if (!r.at_end()) c.address.relay_key = r.fixed<32>();  // absent before receipts
    BC_TRY(r.finish("contact record"));
    return c;
  }
};

struct MessageRecord {
  bool outgoing = false;
  std::uint32_t kind = 0;
  protocol::MessageId id{};
  std::int64_t sent_ms = 0;
  std::int64_t received_ms = 0;
  Bytes body;
  std::string status;
  Bytes encode() const {
    RecordWriter w;
    w.u8(kRecordVersion).boolean(outgoing).u32(kind).bytes(id).i64(sent_ms).i64(received_ms);
    w.bytes(body).str(status);
    return w.take();
  }
  static Result<MessageRecord> decode(ByteView b) {
    RecordReader r(b);
    MessageRecord m;
    if (r.u8() != kRecordVersion) return fail(Errc::kUnsupportedVersion, "message record version");
    m.outgoing = r.boolean();
    m.kind = r.u32();
    m.id = r.fixed<16>();
    m.sent_ms = r.i64();
    m.received_ms = r.i64();
    m.body = r.bytes(1 << 20);
    m.status = r.str(1024);
    BC_TRY(r.finish("message record"));
    return m;
  }
};

struct OutboxRecord {
  std::string alias;
  std::string message_key;
  std::string relay_url;
  std::array<std::uint8_t, 32> fingerprint{};
  wire::QueueId queue{};
  Bytes envelope;
  Bytes encode() const {
    RecordWriter w;
    w.u8(kRecordVersion).str(alias).str(message_key).str(relay_url).bytes(fingerprint);
    w.bytes(queue).bytes(envelope);
    return w.take();
  }
  static Result<OutboxRecord> decode(ByteView b) {
    RecordReader r(b);
    OutboxRecord o;
    if (r.u8() != kRecordVersion) return fail(Errc::kUnsupportedVersion, "outbox record version");
    o.alias = r.str(kMaxAliasSize);
    o.message_key = r.str(256);
    o.relay_url = r.str(protocol::kMaxRelayUrlSize);
    o.fingerprint = r.fixed<32>();
    o.queue = r.fixed<16>();
    o.envelope = r.bytes(1 << 17);
    BC_TRY(r.finish("outbox record"));
    return o;
  }
};

enum class IntroRole : std::uint8_t { kMediator = 1, kParty = 2 };

struct IntroRecord {
  IntroRole role = IntroRole::kParty;
  std::string state;  // offered | accepted | declined | completed
  std::int64_t created_ms = 0;
  // party side
  std::string mediator;
  std::string other_name;
  Bytes other_identity;
  std::string invitation_id;  // our invitation made on accept
  // mediator side
  std::string a;
  std::string b;
  std::uint8_t a_answer = 0;  // 0 none, 1 accepted, 2 declined
  std::uint8_t b_answer = 0;
  Bytes a_invitation;
  Bytes b_invitation;
  Bytes encode() const {
    RecordWriter w;
    w.u8(kRecordVersion).u8(static_cast<std::uint8_t>(role)).str(state).i64(created_ms);
    w.str(mediator).str(other_name).bytes(other_identity).str(invitation_id);
    w.str(a).str(b).u8(a_answer).u8(b_answer).bytes(a_invitation).bytes(b_invitation);
    return w.take();
  }
  static Result<IntroRecord> decode(ByteView bytes) {
    RecordReader r(bytes);
    IntroRecord x;
    if (r.u8() != kRecordVersion)
      return fail(Errc::kUnsupportedVersion, "introduction record version");
    x.role = static_cast<IntroRole>(r.u8());
    x.state = r.str(32);
    x.created_ms = r.i64();
    x.mediator = r.str(kMaxAliasSize);
    x.other_name = r.str(kMaxAliasSize);
    x.other_identity = r.bytes(33);
    x.invitation_id = r.str(64);
    x.a = r.str(kMaxAliasSize);
    x.b = r.str(kMaxAliasSize);
    x.a_answer = r.u8();
    x.b_answer = r.u8();
    x.a_invitation = r.bytes(4096);
    x.b_invitation = r.bytes(4096);
    BC_TRY(r.finish("introduction record"));
    return x;
  }
};

// A prekey lookup over the one-time prekey a message names and our signed prekey.
class StorePrekeys final : public protocol::PreKeyLookup {
 public:
  const protocol::KeyPair* one_time_prekey(std::uint32_t id) const override {
    auto it = one_time.find(id);
    return it == one_time.end() ? nullptr : &it->second;
  }
  const protocol::KeyPair* signed_prekey(std::uint32_t id) const override {
    return signed_pair && signed_id == id ? &*signed_pair : nullptr;
  }
  std::map<std::uint32_t, protocol::KeyPair> one_time;
  std::optional<protocol::KeyPair> signed_pair;
  std::uint32_t signed_id = 0;
};

std::string message_key(const std::string& alias, std::uint64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(seq));
  return alias + '\x1f' + buf;
}

Result<void> check_alias(const std::string& alias) {
  if (alias.empty() || alias.size() > kMaxAliasSize) {
    return fail(Errc::kMalformed, "an alias has 1 to 64 characters");
  }
  for (const char c : alias) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '\x1f')
      return fail(Errc::kMalformed, "an alias has no control characters");
  }
  return ok();
}

template <std::size_t N>
std::string hex(const std::array<std::uint8_t, N>& a) {
  return to_hex(a);
}

}  // namespace

std::string event_kind_name(EventKind kind) {
  switch (kind) {
    case EventKind::kMessage:
      return "message";
    case EventKind::kContactAdded:
      return "contact_added";
    case EventKind::kIntroductionOffered:
      return "introduction_offered";
    case EventKind::kIntroductionCompleted:
      return "introduction_completed";
    case EventKind::kIntroductionDeclined:
      return "introduction_declined";
    case EventKind::kUndecryptable:
      return "undecryptable";
    case EventKind::kWarning:
      return "warning";
    case EventKind::kAlert:
      return "alert";
    case EventKind::kAssurance:
      return "assurance";
    case EventKind::kEscrow:
      return "escrow";
  }
  return "warning";
}

std::string default_home() {
  if (const char* h = std::getenv("BACKCHANNEL_HOME"); h != nullptr && *h != '\0') return h;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x != nullptr && *x != '\0') {
    return (fs::path(x) / "backchannel").string();
  }
  const char* home = std::getenv("HOME");
  return (fs::path(home != nullptr ? home : ".") / ".local" / "share" / "backchannel").string();
}

struct Client::Impl {
  std::unique_ptr<store::ClientStore> db;
  ClientOptions options;
  bool any_deferred = false;     // some delivery of this pass was left on the relay
  bool deferred = false;         // set by handle_delivery when a delivery must wait (not acked)
  std::string delivering_relay;  // the relay whose delivery is being handled (named in alerts)
  // The message a delivery was kept as (set by store_incoming / store_undecryptable), so that the
  // delivery's receipt is kept beside it.
  std::string delivered_key;
  std::string delivered_alias;
  // delivered_by_escrow: the delivery being handled is an escrow release, which comes through
  // the escrow's relay only (no copy is due from a second relay).
  bool delivered_by_escrow = false;
  ByteView delivery_envelope;  // the envelope being handled (escrow certificates hash it)
  SystemClock system_clock;
  crypto::SystemRng system_rng;

  Clock& clock() { return options.clock != nullptr ? *options.clock : system_clock; }
  Rng& rng() { return options.rng != nullptr ? *options.rng : system_rng; }
  std::int64_t now() { return clock().now_ms(); }

  // ---- typed access to the store ----
  template <typename T>
  Result<std::optional<T>> load(std::string_view table, const std::string& key) {
    BC_ASSIGN_OR_RETURN(auto raw, db->get(table, key));
    if (!raw) return std::optional<T>();
    BC_ASSIGN_OR_RETURN(T value, T::decode(*raw));
    return std::optional<T>(std::move(value));
  }
  template <typename T>
  Result<T> require(std::string_view table, const std::string& key, const std::string& what) {
    BC_ASSIGN_OR_RETURN(auto value, load<T>(table, key));
    if (!value) return fail(Errc::kNotFound, what);
    return std::move(*value);
  }
  template <typename T>
  Result<void> save(std::string_view table, const std::string& key, const T& value) {
    Bytes raw = value.encode();
    auto r = db->put(table, key, raw);
    secure_zero(raw.data(), raw.size());
    return r;
  }
  template <typename T>
  Result<std::vector<T>> load_all(std::string_view table) {
    BC_ASSIGN_OR_RETURN(auto rows, db->list(table));
    std::vector<T> out;
    for (auto& [key, raw] : rows) {
      BC_ASSIGN_OR_RETURN(T value, T::decode(raw));
      out.push_back(std::move(value));
    }
    return out;
  }

  // heartbeat_interval: the options' interval, else the one `backchannel config heartbeat` set.
  Result<std::uint32_t> heartbeat_interval() {
    if (options.heartbeat_interval_ms != 0) return options.heartbeat_interval_ms;
    BC_ASSIGN_OR_RETURN(auto raw, db->get(kConfig, "heartbeat_interval_ms"));
    if (!raw) return std::uint32_t{0};
    RecordReader r(*raw);
    const std::uint32_t ms = r.u32();
    BC_TRY(r.finish("heartbeat setting"));
    return ms;
  }

  Result<SelfRecord> self() {
    return require<SelfRecord>(kSelf, "identity", "no identity in this home");
  }

  Result<protocol::IdentityKeyPair> identity(const SelfRecord& s) {
    BC_ASSIGN_OR_RETURN(protocol::KeyPair pair,
                        protocol::KeyPair::from_private(s.identity_private));
    return protocol::IdentityKeyPair{std::move(pair)};
  }

  Result<RelayRecord> first_relay() {
    BC_ASSIGN_OR_RETURN(auto all, load_all<RelayRecord>(kRelays));
    if (all.empty())
      return fail(Errc::kNotFound,
                  "no relay configured: run `backchannel relay add URL --fingerprint HEX` first");
    return *std::min_element(all.begin(), all.end(),
                             [](const auto& a, const auto& b) { return a.order < b.order; });
  }

  // link connects to a relay and checks its signing key against the one pinned for its URL (by
  // relay_add, or learned from an invitation): a relay that signs with another key is refused like
  // one with another certificate. A relay of ours that has no pinned key yet (added before
  // receipts) is pinned now.
  Result<std::unique_ptr<RelayLink>> link(const std::string& url, ByteView fingerprint) {
    BC_ASSIGN_OR_RETURN(auto l, RelayLink::connect(url, fingerprint, options.relay_timeout_ms));
    constexpr std::array<std::uint8_t, 32> kUnpinned{};
    std::array<std::uint8_t, 32> pinned{};
    BC_ASSIGN_OR_RETURN(auto own, load<RelayRecord>(kRelays, url));
    if (own) pinned = own->signing_key;
    if (pinned == kUnpinned) {
      BC_ASSIGN_OR_RETURN(const auto contacts, load_all<ContactRecord>(kContacts));
      for (const auto& c : contacts) {
        if (c.address.url == url && c.address.relay_key != kUnpinned) pinned = c.address.relay_key;
        BC_ASSIGN_OR_RETURN(const auto mirrors, load_mirrors(*db, c.alias));
        for (const auto& m : mirrors) {
          if (m.url == url && m.relay_key != kUnpinned) pinned = m.relay_key;
        }
      }
    }
    if (pinned != kUnpinned && pinned != l->relay_key()) {
      l->close();
      return fail(Errc::kAuthFailed, "the relay at " + url +
                                         " signs with a different key than the one pinned for it "
                                         "(it is not the relay you added)");
    }
    if (own && own->signing_key == kUnpinned) {
      own->signing_key = l->relay_key();
      BC_TRY(save(kRelays, url, *own));
    }
    return l;
  }

  // relay_key_of is the pinned signing key of a relay we hold a link to.
  static crypto::Ed25519PublicKey relay_key_of(const RelayLink& l) {
    crypto::Ed25519PublicKey key;
    key.bytes = l.relay_key();
    return key;
  }

  // keep_receipt stores a verified receipt for the message under `message_key`, or raises
  // "bad_receipt" for one that does not verify (the message itself is kept either way) unless
  // `already_reported`: an envelope found altered or replayed has, of course, no matching receipt,
  // and one finding gets one alert. In the caller's transaction.
  Result<void> keep_receipt(const std::string& alias, const std::string& message_key,
                            const CheckedReceipt& receipt, std::vector<Event>& events,
                            bool already_reported = false) {
    if (receipt.valid) {
      if (message_key.empty()) return ok();  // history off, or no message kept for it
      return store_receipt(*db, message_key, receipt.info);
    }
    if (already_reported) return ok();
    AlertInfo a;
    a.code = "bad_receipt";
    a.alias = alias;
    a.relay_url = receipt.info.relay_url;
    a.first_seq = receipt.info.seq;
    a.last_seq = receipt.info.seq;
    a.text = "the relay " + receipt.info.relay_url + " gave a " + receipt.info.direction +
             " receipt for message " + std::to_string(receipt.info.seq) +
             " that does not verify (" + receipt.problem + "); the message is kept";
    return raise_alert(std::move(a), events);
  }

  Result<std::uint64_t> next_seq() {
    BC_ASSIGN_OR_RETURN(SelfRecord s, self());
    const std::uint64_t seq = s.next_message_seq++;
    BC_TRY(save(kSelf, "identity", s));
    return seq;
  }

  protocol::MessageId fresh_message_id() {
    protocol::MessageId id{};
    rng().fill(id);
    return id;
  }

  // route_relays lists the relays this user's queues go to: the first two, in the order added.
  Result<std::vector<RelayRecord>> route_relays() {
    BC_TRY(first_relay());
    BC_ASSIGN_OR_RETURN(auto all, load_all<RelayRecord>(kRelays));
    std::sort(all.begin(), all.end(),
              [](const auto& a, const auto& b) { return a.order < b.order; });
    if (all.size() > protocol::kMaxRelaysPerInvitation) {
      all.resize(protocol::kMaxRelaysPerInvitation);
    }
    return all;
  }

  // new_queues creates one queue on each route relay (the first relay's first), all with the
  // same purpose and ref: a contact reached through two relays has a queue on each.
  Result<std::vector<QueueRecord>> new_queues(QueuePurpose purpose, const std::string& ref) {
    BC_ASSIGN_OR_RETURN(const auto relays, route_relays());
    std::vector<QueueRecord> out;
    for (const auto& relay : relays) {
      BC_ASSIGN_OR_RETURN(QueueRecord q, new_queue(purpose, ref, relay));
      out.push_back(std::move(q));
    }
    return out;
  }

  // addresses gives the deposit addresses of our queues `qs`, in the order of their relays.
  Result<std::vector<protocol::RelayAddress>> addresses(std::vector<QueueRecord> qs) {
    std::vector<std::pair<std::uint32_t, protocol::RelayAddress>> ordered;
    for (const auto& q : qs) {
      BC_ASSIGN_OR_RETURN(const RelayRecord relay,
                          require<RelayRecord>(kRelays, q.relay_url, "relay is gone"));
      // The signing key was pinned by the handshake that created the queue.
      ordered.push_back(
          {relay.order, {relay.url, relay.fingerprint, q.sender_id, relay.signing_key}});
    }
    std::stable_sort(ordered.begin(), ordered.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<protocol::RelayAddress> out;
    for (auto& [order, address] : ordered) out.push_back(std::move(address));
    return out;
  }

  // adopt_invitation_queues gives every queue of invitation `invitation_id` to contact `alias`.
  Result<std::vector<QueueRecord>> adopt_invitation_queues(const std::string& invitation_id,
                                                           const std::string& alias) {
    BC_ASSIGN_OR_RETURN(auto all, queues());
    std::vector<QueueRecord> out;
    for (auto& q : all) {
      if (q.purpose != QueuePurpose::kInvitation || q.ref != invitation_id) continue;
      q.purpose = QueuePurpose::kContact;
      q.ref = alias;
      BC_TRY(save(kQueues, hex(q.recipient_id), q));
      out.push_back(std::move(q));
    }
    return out;
  }

  // contact_relays lists the relays through which `alias` writes to us.
  Result<std::vector<std::string>> contact_relays(const std::string& alias) {
    BC_ASSIGN_OR_RETURN(const auto all, queues());
    std::vector<std::string> out;
    for (const auto& q : all) {
      if (q.purpose == QueuePurpose::kContact && q.ref == alias) out.push_back(q.relay_url);
    }
    return out;
  }

  // new_queue creates a queue on `relay` and records it (purpose, ref).
  Result<QueueRecord> new_queue(QueuePurpose purpose, const std::string& ref,
                                const RelayRecord& relay) {
    Bytes seed(32);
    rng().fill(seed);
    BC_ASSIGN_OR_RETURN(const crypto::Ed25519KeyPair owner, crypto::ed25519_from_seed(seed));
    BC_ASSIGN_OR_RETURN(auto l, link(relay.url, relay.fingerprint));
    BC_ASSIGN_OR_RETURN(const wire::QueueCreated created, l->create_queue(owner.public_key));
    l->close();
    QueueRecord q;
    q.relay_url = relay.url;
    q.sender_id = created.sender_id;
    q.recipient_id = created.recipient_id;
    q.owner_seed = std::move(seed);
    q.purpose = purpose;
    q.ref = ref;
    BC_TRY(save(kQueues, hex(q.recipient_id), q));
    return q;
  }

  // make_invitation builds an invitation on a fresh queue with a fresh one-time prekey.
  Result<std::pair<protocol::Invitation, InvitationRecord>> make_invitation(
      const std::string& intro_id) {
    BC_ASSIGN_OR_RETURN(SelfRecord s, self());
    BC_ASSIGN_OR_RETURN(const protocol::IdentityKeyPair me, identity(s));
    protocol::Invitation inv;
    rng().fill(inv.id);
    const std::string id_hex = hex(inv.id);
    BC_ASSIGN_OR_RETURN(const auto qs, new_queues(QueuePurpose::kInvitation, id_hex));
    const QueueRecord& q = qs.front();
    const std::uint32_t prekey_id = s.next_prekey_id++;
    const protocol::PreKeyRecord prekey = protocol::generate_prekey(prekey_id, rng());
    BC_TRY(db->put(kPrekeys, std::to_string(prekey_id), prekey.pair.private_key.secret().expose()));
    BC_TRY(save(kSelf, "identity", s));
    BC_ASSIGN_OR_RETURN(const protocol::KeyPair spk,
                        protocol::KeyPair::from_private(s.signed_prekey_private));
    inv.name = s.name;
    inv.bundle.registration_id = s.registration_id;
    inv.bundle.identity_key = me.public_key();
    inv.bundle.signed_prekey_id = s.signed_prekey_id;
    inv.bundle.signed_prekey = spk.public_key;
    inv.bundle.signed_prekey_signature = s.signed_prekey_signature;
    inv.bundle.prekey_id = prekey_id;
    inv.bundle.prekey = prekey.pair.public_key;
    BC_ASSIGN_OR_RETURN(inv.relays, addresses(qs));
    inv.expires_at_ms = now() + options.invitation_validity_ms;
    InvitationRecord rec;
    rec.expires_ms = inv.expires_at_ms;
    rec.prekey_id = prekey_id;
    rec.queue_key = hex(q.recipient_id);
    rec.intro_id = intro_id;
    BC_TRY(save(kInvitations, id_hex, rec));
    return std::make_pair(std::move(inv), std::move(rec));
  }

  Result<std::string> unique_alias(std::string wanted) {
    if (wanted.empty()) wanted = "contact";
    if (wanted.size() > kMaxAliasSize - 4) wanted.resize(kMaxAliasSize - 4);
    for (auto& c : wanted) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '_';
    }
    for (int n = 1; n < 1000; ++n) {
      std::string candidate = n == 1 ? wanted : wanted + "-" + std::to_string(n);
      BC_ASSIGN_OR_RETURN(auto existing, db->get(kContacts, candidate));
      if (!existing) return candidate;
    }
    return fail(Errc::kConflict, "too many contacts with the same name");
  }

  // ---- sending ----
  // encrypt_to encrypts a payload for a contact, stores the message and queues its envelope in
  // the outbox, all in the caller's transaction.
  // An unchained payload (an escrow deposit) carries no transcript fields: it travels through
  // the relay's escrow, may never arrive (cancelled, expired) or arrive late, and its integrity
  // is settled by the release certificate instead.
  Result<std::pair<MessageRecord, std::string>> encrypt_to(ContactRecord& c, std::uint32_t kind,
                                                           ByteView body, bool record_history,
                                                           bool chained = true) {
    if (c.session.empty()) return fail(Errc::kConflict, "no session with " + c.alias + " yet");
    BC_ASSIGN_OR_RETURN(protocol::SessionRecord session,
                        protocol::SessionRecord::deserialize(c.session));
    protocol::Payload p;
    p.kind = kind;
    p.message_id = fresh_message_id();
    p.sent_at_ms = now();
    p.body = to_bytes(body);
    std::string chain_key;
    if (chained) {
      BC_ASSIGN_OR_RETURN(chain_key, stamp_outgoing(*db, c.alias, p, now()));
    }
    BC_ASSIGN_OR_RETURN(Bytes plain, p.encode());
    auto ct = protocol::encrypt(session, plain);
    secure_zero(plain.data(), plain.size());
    if (!ct) return fail(std::move(ct).error());
    BC_ASSIGN_OR_RETURN(Bytes envelope, protocol::pad_envelope(static_cast<std::uint8_t>(ct->type),
                                                               ct->serialized));
    if (chained) BC_TRY(note_envelope(*db, chain_key, envelope));
    const SecretBytes serialized = session.serialize();
    c.session = to_bytes(serialized.expose());
    BC_TRY(save(kContacts, c.alias, c));
    MessageRecord m;
    m.outgoing = true;
    m.kind = kind;
    m.id = p.message_id;
    m.sent_ms = p.sent_at_ms;
    m.body = p.body;
    m.status = "queued";
    BC_ASSIGN_OR_RETURN(const std::uint64_t seq, next_seq());
    const std::string key = message_key(c.alias, seq);
    if (record_history) BC_TRY(save(kMessages, key, m));
    OutboxRecord o;
    o.alias = c.alias;
    o.message_key = record_history ? key : std::string();
    o.relay_url = c.address.url;
    o.fingerprint = c.address.certificate_sha256;
    o.queue = c.address.queue;
    o.envelope = std::move(envelope);
    const std::string outbox_key = message_key("out", seq);
    BC_TRY(save(kOutbox, outbox_key, o));
    // The same envelope goes through the contact's second relay too; the receiver keeps the
    // first copy to arrive and recognises the second by its hash.
    BC_ASSIGN_OR_RETURN(const auto mirrors, load_mirrors(*db, c.alias));
    for (std::size_t i = 0; i < mirrors.size(); ++i) {
      o.relay_url = mirrors[i].url;
      o.fingerprint = mirrors[i].certificate_sha256;
      o.queue = mirrors[i].queue;
      BC_TRY(save(kOutbox, outbox_key + '\x1f' + std::to_string(i + 1), o));
    }
    return std::make_pair(std::move(m), key);
  }

  // OutboxLinks are the connections of one flush by relay URL, and the relays found unreachable.
  struct OutboxLinks {
    std::map<std::string, std::unique_ptr<RelayLink>> links;
    std::map<std::string, Error> unreachable;
  };

  // flush_outbox deposits every queued envelope, in order per relay. A relay that cannot be
  // reached keeps its envelopes queued while the others' go out; its error is returned at the end.
  // `open` may hold links already made and relays already found unreachable (flush_after_send).
  Result<void> flush_outbox(OutboxLinks open = {}) {
    BC_ASSIGN_OR_RETURN(auto rows, db->list(kOutbox));
    auto& links = open.links;
    auto& unreachable = open.unreachable;
    for (auto& [key, raw] : rows) {
      BC_ASSIGN_OR_RETURN(const OutboxRecord o, OutboxRecord::decode(raw));
      if (unreachable.contains(o.relay_url)) continue;
      auto& l = links[o.relay_url];
      Result<wire::DepositReceipt> deposited = fail(Errc::kUnavailable, "relay not reached");
      if (!l) {
        auto made = link(o.relay_url, o.fingerprint);
        if (made) {
          l = std::move(made).value();
        } else {
          deposited = fail(std::move(made).error());
        }
      }
      if (l) deposited = l->deposit(o.queue, o.envelope);
      if (!deposited) {
        if (deposited.error().code != Errc::kUnavailable) return fail(std::move(deposited).error());
        unreachable.emplace(o.relay_url, std::move(deposited).error());
        continue;
      }
      const CheckedReceipt checked =
          check_deposit_receipt(o.relay_url, relay_key_of(*l), o.queue, o.envelope, *deposited);
      std::vector<Event> raised;  // a bad receipt's alert is kept; sync and alerts() show it
      BC_TRY(db->transaction([&](store::ClientStore&) -> Result<void> {
        BC_TRY(db->erase(kOutbox, key));
        BC_TRY(keep_receipt(o.alias, o.message_key, checked, raised));
        // The transcript keeps the relay's numbering of what we sent.
        BC_TRY(note_deposit_receipt(*db, deposited->envelope_hash, o.relay_url,
                                    deposited->message_id, deposited->relay_time_ms));
        if (o.message_key.empty()) return ok();
        BC_ASSIGN_OR_RETURN(auto m, load<MessageRecord>(kMessages, o.message_key));
        if (!m) return ok();
        m->status = "sent";
        return save(kMessages, o.message_key, *m);
      }));
    }
    for (auto& [url, l] : links) {
      if (l) l->close();
    }
    if (!unreachable.empty()) return fail(unreachable.begin()->second);
    return ok();
  }

  // flush_after_send flushes the outbox after a message to `alias` was queued. It first connects
  // to the relays that message goes through: when none of them can be reached, the message stays
  // queued and the first relay's error is returned without reading the outbox. Otherwise every
  // sendable envelope goes out as with flush_outbox (through the links just made). While offline,
  // each send would otherwise decrypt and try every envelope queued before it.
  Result<void> flush_after_send(const std::string& alias) {
    BC_ASSIGN_OR_RETURN(const ContactRecord c,
                        require<ContactRecord>(kContacts, alias, "unknown contact: " + alias));
    BC_ASSIGN_OR_RETURN(auto via, load_mirrors(*db, alias));
    via.insert(via.begin(), c.address);
    OutboxLinks open;
    for (const auto& a : via) {
      if (open.links.contains(a.url) || open.unreachable.contains(a.url)) continue;
      auto made = link(a.url, a.certificate_sha256);
      if (made) {
        open.links.emplace(a.url, std::move(made).value());
      } else if (made.error().code == Errc::kUnavailable) {
        open.unreachable.emplace(a.url, std::move(made).error());
      } else {
        return fail(std::move(made).error());
      }
    }
    if (open.links.empty()) return fail(open.unreachable.at(c.address.url));
    return flush_outbox(std::move(open));
  }

  // ---- receiving ----
  Result<std::vector<QueueRecord>> queues() { return load_all<QueueRecord>(kQueues); }

  MessageInfo to_info(const std::string& alias, const MessageRecord& m) {
    MessageInfo i;
    i.alias = alias;
    i.outgoing = m.outgoing;
    i.kind = std::string(m.status == "undecryptable" ? "undecryptable"
                                                     : protocol::payload_kind_name(m.kind));
    if (m.kind == static_cast<std::uint32_t>(PayloadKind::kFile)) {
      RecordReader r(m.body);
      i.text = r.str(256);
    } else {
      i.text = to_string(m.body);
    }
    i.message_id_hex = hex(m.id);
    i.sent_ms = m.sent_ms;
    i.received_ms = m.received_ms;
    i.status = m.status;
    i.size = m.body.size();
    return i;
  }

  Result<MessageInfo> store_incoming(const std::string& alias, const protocol::Payload& p) {
    MessageRecord m;
    m.outgoing = false;
    m.kind = p.kind;
    m.id = p.message_id;
    m.sent_ms = p.sent_at_ms;
    m.received_ms = now();
    m.body = p.body;
    m.status = "received";
    BC_ASSIGN_OR_RETURN(const std::uint64_t seq, next_seq());
    BC_TRY(save(kMessages, message_key(alias, seq), m));
    delivered_key = message_key(alias, seq);
    delivered_alias = alias;
    return to_info(alias, m);
  }

  // raise_alert stores an alert about `alias` (in the caller's transaction) and reports it.
  Result<void> raise_alert(AlertInfo a, std::vector<Event>& events) {
    if (a.at_ms == 0) a.at_ms = now();
    if (a.relay_url.empty()) a.relay_url = delivering_relay;
    BC_ASSIGN_OR_RETURN(const std::uint64_t seq, next_seq());
    const std::string key = message_key(a.alias, seq);
    BC_ASSIGN_OR_RETURN(Event e, store_alert(*db, key, std::move(a)));
    events.push_back(std::move(e));
    return ok();
  }

  // store_undecryptable keeps an envelope that could not be read and reports it, with an
  // "altered" alert: a relay cannot make a sound envelope fail to decrypt without changing it.
  Result<void> store_undecryptable(const std::string& alias, const std::string& reason,
                                   ByteView envelope, std::vector<Event>& events,
                                   bool altered = true) {
    MessageRecord m;
    m.kind = 0;
    m.received_ms = now();
    m.body = to_bytes(as_bytes(reason));
    m.status = "undecryptable";
    // The raw envelope is kept beside the reason so that nothing is lost.
    BC_ASSIGN_OR_RETURN(const std::uint64_t seq, next_seq());
    BC_TRY(save(kMessages, message_key(alias, seq), m));
    BC_TRY(db->put("undecryptable", message_key(alias, seq), envelope));
    delivered_key = message_key(alias, seq);
    delivered_alias = alias;
    Event e;
    e.kind = EventKind::kUndecryptable;
    e.alias = alias;
    e.text = "a message from " + alias + " could not be decrypted (" + reason + "); it is kept";
    e.message = to_info(alias, m);
    events.push_back(std::move(e));
    // A payload that decrypted but does not parse was authenticated by its sender: no alert.
    if (!altered) return ok();
    AlertInfo a;
    a.code = "altered";
    a.alias = alias;
    a.text = "a message from " + alias + " arrived altered or damaged and could not be read (" +
             reason + ")";
    return raise_alert(std::move(a), events);
  }

  Result<void> handle_delivery(const QueueRecord& q, const wire::Delivery& d,
                               std::vector<Event>& events);
  Result<void> on_seen_envelope(ByteView seen, const QueueRecord& q, const std::string& who,
                                const wire::Delivery& d, std::vector<Event>& events);
  Result<void> raise_replayed(const std::string& alias, std::vector<Event>& events);
  // assurance_book gives the assurances over this client (src/client/assurance_book.hpp).
  AssuranceBook assurance_book();
  std::unique_ptr<AssuranceHost> assurance_host;
  Result<void> mark_acked(const std::string& relay_url, const wire::Delivery& d);
  Result<std::vector<AlertInfo>> check_transcript(const std::string& alias,
                                                  const protocol::Payload& p,
                                                  const wire::Delivery& d);
  Result<void> send_heartbeats();
  Result<void> check_silences(std::vector<Event>& events);
  Result<void> handle_payload(ContactRecord& c, const protocol::Payload& p,
                              std::vector<Event>& events);
  Result<void> on_invitation_accept(const QueueRecord& q, InvitationRecord& inv,
                                    protocol::SessionRecord session,
                                    const protocol::PreKeyDecryption& d, const protocol::Payload& p,
                                    std::vector<Event>& events);
  Result<void> complete_introduction(const std::string& intro_id, std::vector<Event>& events);
  Result<void> answer_intro(const std::string& id, bool accept);
  Result<void> receive_from_relay(const RelayRecord& relay, const std::vector<QueueRecord>& qs,
                                  std::vector<Event>& events, std::uint32_t quiet_ms,
                                  const std::function<void(const Event&)>* live,
                                  const std::atomic<bool>* stop);
  Result<ContactRecord> accept_invitation(const protocol::Invitation& inv, const std::string& alias,
                                          const std::string& introduced_by);
  // note_relay_copy records which relay delivered an envelope of a multi-relay contact.
  Result<void> note_relay_copy(const std::string& relay_url, const std::string& queue_key,
                               ByteView envelope);
  // report_withholding reports what `relay_url` has not delivered of what another relay of the
  // same contact delivered more than relay_grace_ms ago.
  Result<void> report_withholding(const std::string& relay_url, std::vector<Event>& events);
};

namespace {

// accept_body: the invitation id, our name, then the address of each of our queues for the new
// contact (one per relay, the first relay's first).
Bytes accept_body(const protocol::Invitation& inv, const std::string& name,
                  const std::vector<protocol::RelayAddress>& ours) {
  RecordWriter w;
  w.bytes(inv.id).str(name);
  write_addresses(w, ours);
  return w.take();
}

Bytes introduction_signed_bytes(ByteView intro_id, ByteView recipient_identity,
                                ByteView invitation) {
  Bytes out = to_bytes(as_bytes(kIntroductionContext));
  append(out, intro_id);
  append(out, recipient_identity);
  append(out, invitation);
  return out;
}

}  // namespace

Result<ContactRecord> Client::Impl::accept_invitation(const protocol::Invitation& inv,
                                                      const std::string& alias,
                                                      const std::string& introduced_by) {
  // Network first (a queue of our own for this contact), then one transaction for the rest.
  BC_ASSIGN_OR_RETURN(const auto qs, new_queues(QueuePurpose::kContact, alias));
  BC_ASSIGN_OR_RETURN(const auto ours, addresses(qs));
  const QueueRecord& q = qs.front();
  ContactRecord c;
  BC_TRY(db->transaction([&](store::ClientStore&) -> Result<void> {
    BC_ASSIGN_OR_RETURN(const SelfRecord s, self());
    BC_ASSIGN_OR_RETURN(const protocol::IdentityKeyPair me, identity(s));
    protocol::SessionRecord session;
    BC_TRY(protocol::process_prekey_bundle(session, me, s.registration_id, inv.bundle, rng()));
    const SecretBytes serialized = session.serialize();
    c.alias = alias;
    c.name = inv.name;
    const auto id = inv.bundle.identity_key.serialize();
    c.identity.assign(id.begin(), id.end());
    c.introduced_by = introduced_by;
    c.address = inv.relays.front();
    c.our_queue_key = hex(q.recipient_id);
    c.session = to_bytes(serialized.expose());
    c.added_ms = now();
    BC_TRY(save(kContacts, c.alias, c));
    BC_TRY(save_mirrors(*db, c.alias, {inv.relays.begin() + 1, inv.relays.end()}));
    const Bytes body = accept_body(inv, s.name, ours);
    BC_TRY(encrypt_to(c, static_cast<std::uint32_t>(PayloadKind::kInvitationAccept), body, false));
    return ok();
  }));
  return c;
}

Result<void> Client::Impl::on_invitation_accept(const QueueRecord& q, InvitationRecord& inv,
                                                protocol::SessionRecord session,
                                                const protocol::PreKeyDecryption& d,
                                                const protocol::Payload& p,
                                                std::vector<Event>& events) {
  if (p.kind != static_cast<std::uint32_t>(PayloadKind::kInvitationAccept)) {
    return fail(Errc::kMalformed, "the first message on an invitation was not an acceptance");
  }
  RecordReader r(p.body);
  const auto inv_id = r.fixed<16>();
  const std::string name = r.str(kMaxAliasSize);
  BC_ASSIGN_OR_RETURN(const auto theirs, read_addresses(r));
  if (theirs.empty()) return fail(Errc::kMalformed, "the acceptance names no relay");
  if (hex(inv_id) != q.ref) return fail(Errc::kMalformed, "acceptance names another invitation");
  for (const auto& a : theirs) BC_TRY(parse_relay_url(a.url));
  const protocol::RelayAddress& address = theirs.front();
  std::string wanted = name;
  if (!inv.intro_id.empty()) {
    BC_ASSIGN_OR_RETURN(auto intro, load<IntroRecord>(kIntros, inv.intro_id));
    if (intro) wanted = intro->other_name.empty() ? name : intro->other_name;
  }
  BC_ASSIGN_OR_RETURN(const std::string alias, unique_alias(wanted));
  ContactRecord c;
  c.alias = alias;
  c.name = name;
  const auto id = d.sender_identity.serialize();
  c.identity.assign(id.begin(), id.end());
  c.introduced_by = inv.introduced_by;
  c.address = address;
  c.our_queue_key = hex(q.recipient_id);
  const SecretBytes serialized = session.serialize();
  c.session = to_bytes(serialized.expose());
  c.added_ms = now();
  BC_TRY(save(kContacts, alias, c));
  BC_TRY(save_mirrors(*db, alias, {theirs.begin() + 1, theirs.end()}));
  BC_TRY(adopt_invitation_queues(q.ref, alias));
  inv.used = true;
  BC_TRY(save(kInvitations, q.ref, inv));
  if (d.used_prekey_id) BC_TRY(db->erase(kPrekeys, std::to_string(*d.used_prekey_id)));
  Event e;
  e.kind = EventKind::kContactAdded;
  e.alias = alias;
  e.text = alias + " accepted your invitation" +
           (c.introduced_by.empty() ? std::string() : " (introduced by " + c.introduced_by + ")");
  events.push_back(std::move(e));
  return ok();
}

Result<void> Client::Impl::handle_payload(ContactRecord& c, const protocol::Payload& p,
                                          std::vector<Event>& events) {
  const std::string seen_key = "id:" + c.alias + ":" + hex(p.message_id);
  BC_ASSIGN_OR_RETURN(auto seen, db->get(kSeen, seen_key));
  if (seen) return raise_replayed(c.alias, events);  // exactly once for the user
  BC_TRY(db->put(kSeen, seen_key, Bytes{}));
  switch (static_cast<PayloadKind>(p.kind)) {
    case PayloadKind::kHeartbeat:
      return ok();
    case PayloadKind::kIntroductionOffer: {
      RecordReader r(p.body);
      const auto intro_id = r.fixed<16>();
      IntroRecord intro;
      intro.role = IntroRole::kParty;
      intro.state = "offered";
      intro.created_ms = now();
      intro.mediator = c.alias;
      intro.other_name = r.str(kMaxAliasSize);
      intro.other_identity = r.bytes(33);
      BC_TRY(r.finish("introduction offer"));
      const std::string id = hex(intro_id);
      BC_ASSIGN_OR_RETURN(auto existing, load<IntroRecord>(kIntros, id));
      if (existing) return ok();
      BC_TRY(save(kIntros, id, intro));
      Event e;
      e.kind = EventKind::kIntroductionOffered;
      e.alias = c.alias;
      e.text = c.alias + " offers to introduce you to " + intro.other_name + " (introduction " +
               id + "): answer with `intro accept " + id + "` or `intro decline " + id + "`";
      events.push_back(std::move(e));
      return ok();
    }
    case PayloadKind::kIntroductionAnswer: {
      RecordReader r(p.body);
      const std::string id = hex(r.fixed<16>());
      const bool accepted = r.u8() == 1;
      Bytes invitation = r.bytes(4096);
      BC_TRY(r.finish("introduction answer"));
      BC_ASSIGN_OR_RETURN(auto intro, load<IntroRecord>(kIntros, id));
      if (!intro || intro->role != IntroRole::kMediator || intro->state != "offered") return ok();
      if (c.alias != intro->a && c.alias != intro->b) return ok();
      const bool is_a = c.alias == intro->a;
      (is_a ? intro->a_answer : intro->b_answer) = accepted ? 1 : 2;
      (is_a ? intro->a_invitation : intro->b_invitation) = std::move(invitation);
      Event e;
      e.alias = c.alias;
      if (!accepted) {
        intro->state = "declined";
        e.kind = EventKind::kIntroductionDeclined;
        e.text = c.alias + " declined introduction " + id;
      } else if (intro->a_answer == 1 && intro->b_answer == 1) {
        intro->state = "completed";
        e.kind = EventKind::kIntroductionCompleted;
        e.text = intro->a + " and " + intro->b + " both accepted introduction " + id +
                 ": each now receives the other's invitation, signed by you";
      } else {
        BC_TRY(save(kIntros, id, *intro));
        e.kind = EventKind::kMessage;
        e.text = c.alias + " accepted introduction " + id + "; waiting for the other side";
        events.push_back(std::move(e));
        return ok();
      }
      BC_TRY(save(kIntros, id, *intro));
      // Tell both sides the outcome; on success each gets the other's invitation, signed.
      BC_ASSIGN_OR_RETURN(const SelfRecord s, self());
      BC_ASSIGN_OR_RETURN(const protocol::IdentityKeyPair me, identity(s));
      BC_ASSIGN_OR_RETURN(const Bytes id_bytes, from_hex(id));
      for (int side = 0; side < 2; ++side) {
        const std::string& to = side == 0 ? intro->a : intro->b;
        const Bytes& theirs = side == 0 ? intro->b_invitation : intro->a_invitation;
        BC_ASSIGN_OR_RETURN(ContactRecord target,
                            require<ContactRecord>(kContacts, to, "contact " + to + " is gone"));
        RecordWriter w;
        w.bytes(id_bytes).u8(intro->state == "completed" ? 1 : 2);
        if (intro->state == "completed") {
          const Bytes signed_bytes = introduction_signed_bytes(id_bytes, target.identity, theirs);
          const auto sig = crypto::xeddsa_sign(me.pair.private_key, signed_bytes, rng());
          w.bytes(theirs).bytes(sig);
        } else {
          w.bytes(Bytes{}).bytes(Bytes{});
        }
        const Bytes body = w.take();
        BC_TRY(encrypt_to(target, static_cast<std::uint32_t>(PayloadKind::kIntroduction), body,
                          false));
      }
      events.push_back(std::move(e));
      return ok();
    }
    case PayloadKind::kIntroduction: {
      RecordReader r(p.body);
      const Bytes id_bytes = r.bytes(16);
      const bool completed = r.u8() == 1;
      const Bytes invitation_bytes = r.bytes(4096);
      const Bytes signature = r.bytes(64);
      BC_TRY(r.finish("introduction"));
      const std::string id = to_hex(id_bytes);
      BC_ASSIGN_OR_RETURN(auto intro, load<IntroRecord>(kIntros, id));
      if (!intro || intro->role != IntroRole::kParty || intro->mediator != c.alias ||
          intro->state == "completed" || intro->state == "declined") {
        return ok();
      }
      Event e;
      e.alias = c.alias;
      if (!completed) {
        intro->state = "declined";
        BC_TRY(save(kIntros, id, *intro));
        e.kind = EventKind::kIntroductionDeclined;
        e.text = "introduction " + id + " to " + intro->other_name + " was declined";
        events.push_back(std::move(e));
        return ok();
      }
      BC_ASSIGN_OR_RETURN(const SelfRecord s, self());
      BC_ASSIGN_OR_RETURN(const protocol::IdentityKeyPair me, identity(s));
      const auto my_id = me.public_key().serialize();
      BC_ASSIGN_OR_RETURN(const auto mediator_key, protocol::PublicKey::decode(c.identity));
      const Bytes signed_bytes = introduction_signed_bytes(id_bytes, my_id, invitation_bytes);
      if (auto v = crypto::xeddsa_verify(mediator_key.raw(), signed_bytes, signature); !v) {
        return fail(Errc::kAuthFailed, "introduction is not signed by " + c.alias);
      }
      BC_ASSIGN_OR_RETURN(const protocol::Invitation other,
                          protocol::Invitation::decode(invitation_bytes));
      const auto other_id = other.bundle.identity_key.serialize();
      if (!ct_equal(other_id, intro->other_identity)) {
        return fail(Errc::kUntrustedIdentity, "introduction names another identity than offered");
      }
      BC_ASSIGN_OR_RETURN(
          InvitationRecord mine,
          require<InvitationRecord>(kInvitations, intro->invitation_id,
                                    "our invitation for this introduction is gone"));
      mine.expected_identity.assign(other_id.begin(), other_id.end());
      mine.introduced_by = c.alias;
      intro->state = "completed";
      BC_TRY(save(kIntros, id, *intro));
      e.kind = EventKind::kIntroductionCompleted;
      // The side with the smaller identity key opens the session; the other waits for it.
      if (std::lexicographical_compare(my_id.begin(), my_id.end(), other_id.begin(),
                                       other_id.end())) {
        BC_ASSIGN_OR_RETURN(const std::string alias, unique_alias(intro->other_name));
        protocol::SessionRecord session;
        BC_TRY(
            protocol::process_prekey_bundle(session, me, s.registration_id, other.bundle, rng()));
        const SecretBytes serialized = session.serialize();
        ContactRecord nc;
        nc.alias = alias;
        nc.name = other.name;
        nc.identity.assign(other_id.begin(), other_id.end());
        nc.introduced_by = c.alias;
        nc.address = other.relays.front();
        nc.our_queue_key = mine.queue_key;
        nc.session = to_bytes(serialized.expose());
        nc.added_ms = now();
        BC_TRY(save(kContacts, alias, nc));
        BC_TRY(save_mirrors(*db, alias, {other.relays.begin() + 1, other.relays.end()}));
        BC_ASSIGN_OR_RETURN(const auto qs, adopt_invitation_queues(intro->invitation_id, alias));
        if (qs.empty()) return fail(Errc::kNotFound, "our introduction queue is gone");
        BC_ASSIGN_OR_RETURN(const auto ours, addresses(qs));
        mine.used = true;
        BC_TRY(db->erase(kPrekeys, std::to_string(mine.prekey_id)));
        const Bytes body = accept_body(other, s.name, ours);
        BC_TRY(encrypt_to(nc, static_cast<std::uint32_t>(PayloadKind::kInvitationAccept), body,
                          false));
        e.text = "introduction " + id + " completed: " + alias + " (vouched for by " + c.alias +
                 ") is now a contact";
        Event added;
        added.kind = EventKind::kContactAdded;
        added.alias = alias;
        added.text = alias + " added (introduced by " + c.alias + ")";
        events.push_back(std::move(added));
      } else {
        e.text = "introduction " + id + " completed: waiting for " + intro->other_name +
                 " to open the session";
      }
      BC_TRY(save(kInvitations, intro->invitation_id, mine));
      events.push_back(std::move(e));
      return ok();
    }
    case PayloadKind::kInvitationAccept:
      return ok();  // only meaningful on an invitation queue
    case PayloadKind::kAssurance:
      if (const auto m = protocol::AssuranceMessage::decode(p.body);
          m && m->type == protocol::AssuranceMessageType::kEscrowDeposit) {
        delivered_by_escrow = true;
      }
      return assurance_book().on_payload(c.alias, p.body, delivery_envelope, events);
    default: {
      BC_ASSIGN_OR_RETURN(MessageInfo info, store_incoming(c.alias, p));
      Event e;
      e.kind = EventKind::kMessage;
      e.alias = c.alias;
      e.text = info.text;
      e.message = std::move(info);
      events.push_back(std::move(e));
      return ok();
    }
  }
}

// seen_envelope_value records where an envelope first arrived: the relay and its sequence
// number there. The same envelope again under the same number is the relay redelivering what we
// had not acknowledged (a connection lost before the ack): harmless. Under a new number on the
// same relay it was deposited again: a replay. From another relay it is the second copy of a
// message sent through two relays.
// Once acknowledged, the relay has deleted it: the same number again is a replay as well.
namespace {
Bytes seen_envelope_value(const std::string& relay_url, std::uint64_t relay_seq, bool acked) {
  RecordWriter w;
  w.str(relay_url).u64(relay_seq).boolean(acked);
  return w.take();
}
}  // namespace

Result<void> Client::Impl::mark_acked(const std::string& relay_url, const wire::Delivery& d) {
  const std::string seen_key = "env:" + hex(crypto::sha256(d.envelope));
  BC_ASSIGN_OR_RETURN(auto seen, db->get(kSeen, seen_key));
  if (!seen) return ok();  // deferred, or not ours to record
  RecordReader r(*seen);
  const std::string first_relay_url = r.str(protocol::kMaxRelayUrlSize);
  const std::uint64_t first_seq = r.u64();
  const bool acked = r.boolean();
  if (!r.finish("seen envelope") || acked || first_relay_url != relay_url ||
      first_seq != d.message_id) {
    return ok();
  }
  return db->put(kSeen, seen_key, seen_envelope_value(relay_url, d.message_id, true));
}

Result<void> Client::Impl::raise_replayed(const std::string& alias, std::vector<Event>& events) {
  AlertInfo a;
  a.code = "replayed";
  a.alias = alias;
  a.text = "the relay delivered a message from " + alias +
           " a second time (a replay); it was not shown again";
  return raise_alert(std::move(a), events);
}

Result<void> Client::Impl::on_seen_envelope(ByteView seen, const QueueRecord& q,
                                            const std::string& who, const wire::Delivery& d,
                                            std::vector<Event>& events) {
  if (seen.empty()) return ok();  // recorded before relays were named: nothing to compare
  RecordReader r(seen);
  const std::string first_relay_url = r.str(protocol::kMaxRelayUrlSize);
  const std::uint64_t first_seq = r.u64();
  const bool acked = r.boolean();
  if (!r.finish("seen envelope") || first_relay_url != q.relay_url ||
      (first_seq == d.message_id && !acked)) {
    return ok();
  }
  return raise_replayed(who, events);
}

Result<void> Client::Impl::handle_delivery(const QueueRecord& q, const wire::Delivery& d,
                                           std::vector<Event>& events) {
  if (q.purpose == QueuePurpose::kInvitation) {
    // An acceptance of an introduction's invitation that arrives before the mediator's
    // introduction itself waits on the relay until the introduction has been read.
    BC_ASSIGN_OR_RETURN(auto pending, load<InvitationRecord>(kInvitations, q.ref));
    if (pending && !pending->used && !pending->intro_id.empty() &&
        pending->expected_identity.empty()) {
      deferred = true;
      return ok();
    }
  }
  const auto digest = crypto::sha256(d.envelope);
  delivery_envelope = d.envelope;
  const std::string seen_key = "env:" + hex(digest);
  const std::string who =
      q.purpose == QueuePurpose::kContact ? q.ref : "invitation " + q.ref.substr(0, 8);
  BC_ASSIGN_OR_RETURN(auto seen, db->get(kSeen, seen_key));
  if (seen) return on_seen_envelope(*seen, q, who, d, events);
  BC_TRY(db->put(kSeen, seen_key, seen_envelope_value(q.relay_url, d.message_id, false)));
  auto env = protocol::unpad_envelope(d.envelope);
  if (!env) {
    BC_TRY(store_undecryptable(who, env.error().message(), d.envelope, events));
    return ok();
  }
  BC_ASSIGN_OR_RETURN(const SelfRecord s, self());
  BC_ASSIGN_OR_RETURN(const protocol::IdentityKeyPair me, identity(s));
  StorePrekeys prekeys;
  prekeys.signed_id = s.signed_prekey_id;
  BC_ASSIGN_OR_RETURN(prekeys.signed_pair,
                      protocol::KeyPair::from_private(s.signed_prekey_private));

  if (q.purpose == QueuePurpose::kInvitation) {
    BC_ASSIGN_OR_RETURN(auto inv, load<InvitationRecord>(kInvitations, q.ref));
    Event w;
    w.kind = EventKind::kWarning;
    if (!inv || inv->used) {
      w.text = "a second use of an invitation code was refused";
      events.push_back(std::move(w));
      return ok();
    }
    if (inv->expires_ms < now()) {
      w.text = "an expired invitation code was used; refused";
      events.push_back(std::move(w));
      return ok();
    }
    if (env->message_type != 3) {
      BC_TRY(store_undecryptable(who, "not a session start", d.envelope, events));
      return ok();
    }
    BC_ASSIGN_OR_RETURN(auto otk, db->get(kPrekeys, std::to_string(inv->prekey_id)));
    if (otk) {
      BC_ASSIGN_OR_RETURN(protocol::KeyPair pair, protocol::KeyPair::from_private(*otk));
      prekeys.one_time.emplace(inv->prekey_id, std::move(pair));
    }
    std::optional<protocol::IdentityKey> expected;
    if (!inv->expected_identity.empty()) {
      BC_ASSIGN_OR_RETURN(expected, protocol::IdentityKey::decode(inv->expected_identity));
    }
    protocol::SessionRecord session;
    auto dec = protocol::decrypt_prekey_message(session, me, s.registration_id, prekeys,
                                                env->ciphertext, rng(), expected);
    if (!dec) {
      BC_TRY(store_undecryptable(who, dec.error().message(), d.envelope, events));
      return ok();
    }
    auto p = protocol::Payload::decode(dec->plaintext);
    if (!p) {
      BC_TRY(store_undecryptable(who, p.error().message(), d.envelope, events, false));
      return ok();
    }
    BC_TRY(on_invitation_accept(q, *inv, std::move(session), *dec, *p, events));
    // The acceptance is the first message of the new contact's transcript.
    BC_ASSIGN_OR_RETURN(auto moved, load<QueueRecord>(kQueues, hex(q.recipient_id)));
    if (!moved || moved->purpose != QueuePurpose::kContact) return ok();
    BC_ASSIGN_OR_RETURN(auto found, check_transcript(moved->ref, *p, d));
    for (auto& a : found) BC_TRY(raise_alert(std::move(a), events));
    return ok();
  }

  BC_ASSIGN_OR_RETURN(ContactRecord c,
                      require<ContactRecord>(kContacts, q.ref, "contact " + q.ref + " is gone"));
  protocol::SessionRecord session;
  if (!c.session.empty()) {
    BC_ASSIGN_OR_RETURN(session, protocol::SessionRecord::deserialize(c.session));
  }
  Result<Bytes> plaintext = fail(Errc::kInternal);
  if (env->message_type == 3) {
    BC_ASSIGN_OR_RETURN(const protocol::IdentityKey expected,
                        protocol::IdentityKey::decode(c.identity));
    auto dec = protocol::decrypt_prekey_message(session, me, s.registration_id, prekeys,
                                                env->ciphertext, rng(), expected);
    if (!dec && dec.error().code == Errc::kUntrustedIdentity) {
      // The contact's identity key changed: accept the session, block sending until confirmed.
      dec = protocol::decrypt_prekey_message(session, me, s.registration_id, prekeys,
                                             env->ciphertext, rng());
      if (dec) {
        const auto id = dec->sender_identity.serialize();
        c.identity.assign(id.begin(), id.end());
        c.identity_changed = true;
        Event w;
        w.kind = EventKind::kWarning;
        w.alias = c.alias;
        w.text = "the identity key of " + c.alias +
                 " changed: sending is blocked until you compare safety numbers and run `verify " +
                 c.alias + " --confirm`";
        events.push_back(std::move(w));
      }
    }
    if (dec) {
      plaintext = std::move(dec->plaintext);
    } else {
      plaintext = fail(std::move(dec).error());
    }
  } else {
    plaintext = protocol::decrypt_message(session, env->ciphertext, rng());
  }
  if (!plaintext) {
    if (plaintext.error().code == Errc::kDuplicate) return raise_replayed(c.alias, events);
    BC_TRY(store_undecryptable(c.alias, plaintext.error().message(), d.envelope, events));
    return ok();
  }
  const SecretBytes serialized = session.serialize();
  c.session = to_bytes(serialized.expose());
  BC_TRY(save(kContacts, c.alias, c));
  auto p = protocol::Payload::decode(*plaintext);
  secure_zero(plaintext->data(), plaintext->size());
  if (!p) {
    BC_TRY(store_undecryptable(c.alias, p.error().message(), d.envelope, events, false));
    return ok();
  }
  BC_ASSIGN_OR_RETURN(auto found, check_transcript(c.alias, *p, d));
  BC_TRY(handle_payload(c, *p, events));
  for (auto& a : found) BC_TRY(raise_alert(std::move(a), events));
  return ok();
}

Result<std::vector<AlertInfo>> Client::Impl::check_transcript(const std::string& alias,
                                                              const protocol::Payload& p,
                                                              const wire::Delivery& d) {
  // A message id seen before is a replay that handle_payload reports; the chain skips it.
  BC_ASSIGN_OR_RETURN(auto seen, db->get(kSeen, "id:" + alias + ":" + hex(p.message_id)));
  if (seen) return std::vector<AlertInfo>{};
  Delivered how;
  how.relay_url = delivering_relay;
  how.relay_seq = d.message_id;
  how.relay_time_ms = d.relay_time_ms;
  how.envelope_sha256_hex = hex(crypto::sha256(d.envelope));
  how.received_ms = now();
  return check_incoming(*db, alias, p, how);
}

// send_heartbeats queues a heartbeat to every contact we have sent nothing to for an interval.
Result<void> Client::Impl::send_heartbeats() {
  BC_ASSIGN_OR_RETURN(const std::uint32_t interval, heartbeat_interval());
  if (interval == 0) return ok();
  BC_ASSIGN_OR_RETURN(auto all, load_all<ContactRecord>(kContacts));
  for (auto& c : all) {
    if (c.session.empty() || c.identity_changed) continue;
    BC_TRY(db->transaction([&](store::ClientStore&) -> Result<void> {
      BC_ASSIGN_OR_RETURN(const LivenessRecord l, load_liveness(*db, c.alias));
      if (now() - l.last_out_ms < static_cast<std::int64_t>(interval)) return ok();
      BC_ASSIGN_OR_RETURN(ContactRecord fresh,
                          require<ContactRecord>(kContacts, c.alias, "contact is gone"));
      BC_TRY(encrypt_to(fresh, static_cast<std::uint32_t>(PayloadKind::kHeartbeat),
                        heartbeat_body(interval), false));
      return ok();
    }));
  }
  return ok();
}

// check_silences raises "silent" for each contact whose heartbeats stopped.
Result<void> Client::Impl::check_silences(std::vector<Event>& events) {
  BC_ASSIGN_OR_RETURN(auto all, load_all<ContactRecord>(kContacts));
  for (const auto& c : all) {
    BC_TRY(db->transaction([&](store::ClientStore&) -> Result<void> {
      BC_ASSIGN_OR_RETURN(auto silent, check_silence(*db, c.alias, now()));
      if (!silent) return ok();
      return raise_alert(std::move(*silent), events);
    }));
  }
  return ok();
}

Result<void> Client::Impl::receive_from_relay(const RelayRecord& relay,
                                              const std::vector<QueueRecord>& qs,
                                              std::vector<Event>& events, std::uint32_t quiet_ms,
                                              const std::function<void(const Event&)>* live,
                                              const std::atomic<bool>* stop) {
  BC_ASSIGN_OR_RETURN(auto l, link(relay.url, relay.fingerprint));
  BC_ASSIGN_OR_RETURN(const auto configured, load_all<RelayRecord>(kRelays));
  const bool multi_relay = configured.size() > 1;
  std::map<wire::QueueId, std::string> by_recipient;
  for (const auto& q : qs) {
    if (q.relay_url != relay.url) continue;
    BC_ASSIGN_OR_RETURN(const crypto::Ed25519KeyPair owner,
                        crypto::ed25519_from_seed(q.owner_seed));
    BC_TRY(l->subscribe(q.recipient_id, owner.private_key));
    by_recipient.emplace(q.recipient_id, hex(q.recipient_id));
  }
  // keep_one keeps one delivery (in the caller's transaction); found collects its events.
  auto keep_one = [&](const std::string& queue_key, const wire::Delivery& d,
                      std::vector<Event>& found) -> Result<void> {
    BC_ASSIGN_OR_RETURN(const QueueRecord q,
                        require<QueueRecord>(kQueues, queue_key, "queue is gone"));
    const auto alert_count = [&found] {
      return std::count_if(found.begin(), found.end(),
                           [](const Event& e) { return e.kind == EventKind::kAlert; });
    };
    const auto alerts_before = alert_count();
    // An envelope seen before was judged then (and a replay is reported as one).
    BC_ASSIGN_OR_RETURN(const auto seen_before,
                        db->get(kSeen, "env:" + hex(crypto::sha256(d.envelope))));
    BC_TRY(handle_delivery(q, d, found));
    if (deferred) return ok();
    // The receipt is checked after the message is kept: a bad one never costs the message.
    const CheckedReceipt checked =
        check_delivery_receipt(relay.url, relay_key_of(*l), q.sender_id, d);
    const std::string alias = delivered_alias.empty() ? q.ref : delivered_alias;
    std::string target = delivered_key;
    if (!target.empty()) {
      BC_TRY(note_receipt_target(*db, checked.info.envelope_hash_hex, target));
    } else if (checked.valid) {
      // A copy of a message already kept (from the other relay, or delivered again): it adds
      // this relay's receipt once, never replaces one.
      BC_ASSIGN_OR_RETURN(auto kept, receipt_target(*db, checked.info.envelope_hash_hex));
      if (kept) {
        BC_ASSIGN_OR_RETURN(const bool has, has_receipt(*db, *kept, relay.url));
        if (!has) target = *kept;
      }
    }
    return keep_receipt(alias, target, checked, found,
                        seen_before.has_value() || alert_count() > alerts_before);
  };
  // Handled is what keeping a delivery of the batch gave.
  struct Handled {
    std::size_t index = 0;  // in the batch
    std::string queue_key;
    bool deferred = false;
    bool repeated = false;  // pushed twice on this connection (acknowledged once)
    bool by_escrow = false;
    std::vector<Event> found;
  };
  // pushed: the envelopes this connection delivered, by queue and relay sequence number.
  std::set<std::pair<wire::QueueId, wire::MessageId>> pushed;
  // keep_range keeps batch[from, to) in one transaction; `handled` grows only when it commits.
  auto keep_range = [&](const std::vector<wire::Delivery>& batch, std::size_t from, std::size_t to,
                        std::vector<Handled>& handled) -> Result<void> {
    std::vector<Handled> kept;
    auto pushed_now = pushed;
    BC_TRY(db->transaction([&](store::ClientStore&) -> Result<void> {
      for (std::size_t i = from; i < to; ++i) {
        auto it = by_recipient.find(batch[i].recipient_id);
        if (it == by_recipient.end()) continue;
        Handled h;
        h.index = i;
        h.queue_key = it->second;
        deferred = false;
        delivering_relay = relay.url;
        delivered_key.clear();
        delivered_alias.clear();
        delivered_by_escrow = false;
        if (!pushed_now.emplace(batch[i].recipient_id, batch[i].message_id).second) {
          // A relay pushes an envelope once per connection (again only after a reconnect, while
          // it is unacknowledged): the same number twice on one connection is a replay.
          BC_ASSIGN_OR_RETURN(const QueueRecord q,
                              require<QueueRecord>(kQueues, h.queue_key, "queue is gone"));
          BC_TRY(raise_replayed(
              q.purpose == QueuePurpose::kContact ? q.ref : "invitation " + q.ref.substr(0, 8),
              h.found));
          h.repeated = true;
          kept.push_back(std::move(h));
          continue;
        }
        BC_TRY(keep_one(h.queue_key, batch[i], h.found));
        h.deferred = deferred;
        h.by_escrow = delivered_by_escrow;
        kept.push_back(std::move(h));
      }
      return ok();
    }));
    for (auto& h : kept) handled.push_back(std::move(h));
    pushed = std::move(pushed_now);
    return ok();
  };
  // What the relay has already pushed (up to its window) is kept in one transaction and then
  // acknowledged together. Until the acks arrive the relay keeps the envelopes: a crash or an
  // error in between has them delivered again under the same numbers, which is recognised as a
  // redelivery, not a replay.
  constexpr std::size_t kBatchMax = 64;
  for (;;) {
    if (stop != nullptr && stop->load()) break;
    BC_ASSIGN_OR_RETURN(const auto batch, l->next_deliveries(quiet_ms, kBatchMax));
    if (batch.empty()) break;
    std::vector<Handled> handled;
    Result<void> failed = keep_range(batch, 0, batch.size(), handled);
    if (!failed && batch.size() > 1) {
      // One delivery cannot be kept: keep those before it, one at a time, and stop there.
      failed = ok();
      for (std::size_t i = 0; i < batch.size() && failed; ++i) {
        failed = keep_range(batch, i, i + 1, handled);
      }
    }
    std::vector<RelayLink::Acknowledgement> acks;
    for (const auto& h : handled) {
      if (h.deferred) {
        any_deferred = true;
      } else if (!h.repeated) {
        acks.emplace_back(batch[h.index].recipient_id, batch[h.index].message_id);
      }
    }
    BC_TRY(l->ack_all(acks));
    BC_TRY(db->transaction([&](store::ClientStore&) -> Result<void> {
      for (const auto& h : handled) {
        if (h.deferred || h.repeated) continue;
        if (multi_relay && !h.by_escrow) {
          BC_TRY(note_relay_copy(relay.url, h.queue_key, batch[h.index].envelope));
        }
        BC_TRY(mark_acked(relay.url, batch[h.index]));
      }
      return ok();
    }));
    for (auto& h : handled) {
      if (h.deferred) continue;
      for (auto& e : h.found) {
        if (live != nullptr) (*live)(e);
        events.push_back(std::move(e));
      }
    }
    BC_TRY(failed);
  }
  l->close();
  if (multi_relay) {
    std::vector<Event> found;
    BC_TRY(db->transaction(
        [&](store::ClientStore&) -> Result<void> { return report_withholding(relay.url, found); }));
    for (auto& e : found) {
      if (live != nullptr) (*live)(e);
      events.push_back(std::move(e));
    }
  }
  return ok();
}

Result<void> Client::Impl::note_relay_copy(const std::string& relay_url,
                                           const std::string& queue_key, ByteView envelope) {
  BC_ASSIGN_OR_RETURN(const auto q, load<QueueRecord>(kQueues, queue_key));
  if (!q || q->purpose != QueuePurpose::kContact) return ok();
  BC_ASSIGN_OR_RETURN(const auto expected, contact_relays(q->ref));
  return note_copy(*db, q->ref, relay_url, crypto::sha256(envelope), expected, now());
}

Result<void> Client::Impl::report_withholding(const std::string& relay_url,
                                              std::vector<Event>& events) {
  BC_ASSIGN_OR_RETURN(const auto overdue,
                      overdue_copies(*db, relay_url, now(), options.relay_grace_ms));
  for (const Withholding& w : overdue) {
    AlertInfo a;
    a.code = "relay_withholding";
    a.alias = w.alias;
    a.relay_url = w.relay_url;
    a.text = "relay " + w.relay_url + " is withholding: it has not delivered " +
             std::to_string(w.count) + (w.count == 1 ? " message" : " messages") + " from " +
             w.alias + " that relay " + w.delivered_by + " delivered " +
             std::to_string((now() - w.since_ms) / 1000) + " s ago";
    BC_TRY(raise_alert(std::move(a), events));
  }
  return ok();
}

Result<void> Client::Impl::answer_intro(const std::string& id, bool accept) {
  BC_ASSIGN_OR_RETURN(IntroRecord intro,
                      require<IntroRecord>(kIntros, id, "no introduction " + id));
  if (intro.role != IntroRole::kParty)
    return fail(Errc::kConflict, "you are the mediator of introduction " + id);
  if (intro.state != "offered")
    return fail(Errc::kConflict, "introduction " + id + " was already answered");
  Bytes invitation_bytes;
  if (accept) {
    BC_ASSIGN_OR_RETURN(auto made, make_invitation(id));
    BC_ASSIGN_OR_RETURN(invitation_bytes, made.first.encode());
    intro.invitation_id = hex(made.first.id);
  }
  BC_ASSIGN_OR_RETURN(const Bytes id_bytes, from_hex(id));
  BC_TRY(db->transaction([&](store::ClientStore&) -> Result<void> {
    BC_ASSIGN_OR_RETURN(
        ContactRecord mediator,
        require<ContactRecord>(kContacts, intro.mediator,
                               "the mediator " + intro.mediator + " is no longer a contact"));
    RecordWriter w;
    w.bytes(id_bytes).u8(accept ? 1 : 2).bytes(invitation_bytes);
    const Bytes body = w.take();
    BC_TRY(encrypt_to(mediator, static_cast<std::uint32_t>(PayloadKind::kIntroductionAnswer), body,
                      false));
    intro.state = accept ? "accepted" : "declined";
    return save(kIntros, id, intro);
  }));
  return flush_outbox();
}

// ---- assurances: the client as AssuranceBook sees it ----
namespace {
class ImplAssuranceHost final : public AssuranceHost {
 public:
  explicit ImplAssuranceHost(Client::Impl& impl) : impl_(impl) {}
  store::ClientStore& store() override { return *impl_.db; }
  std::int64_t now() override { return impl_.now(); }
  Rng& rng() override { return impl_.rng(); }
  Result<protocol::IdentityKeyPair> identity() override {
    BC_ASSIGN_OR_RETURN(const SelfRecord s, impl_.self());
    return impl_.identity(s);
  }
  Result<AssurancePeer> peer(const std::string& alias) override {
    BC_ASSIGN_OR_RETURN(const ContactRecord c, impl_.require<ContactRecord>(
                                                   kContacts, alias, "unknown contact: " + alias));
    AssurancePeer p;
    p.alias = c.alias;
    BC_ASSIGN_OR_RETURN(p.identity, protocol::IdentityKey::decode(c.identity));
    p.identity_changed = c.identity_changed;
    p.relay_url = c.address.url;
    p.relay_fingerprint = c.address.certificate_sha256;
    p.their_queue = c.address.queue;
    BC_ASSIGN_OR_RETURN(auto q, impl_.load<QueueRecord>(kQueues, c.our_queue_key));
    if (q) {
      p.our_relay_url = q->relay_url;
      p.our_queue = q->sender_id;
    }
    return p;
  }
  Result<void> send(const std::string& alias, ByteView body) override {
    BC_ASSIGN_OR_RETURN(ContactRecord c, impl_.require<ContactRecord>(kContacts, alias,
                                                                      "unknown contact: " + alias));
    if (c.identity_changed) {
      return fail(Errc::kUntrustedIdentity, "the identity key of " + alias + " changed");
    }
    BC_TRY(impl_.encrypt_to(c, static_cast<std::uint32_t>(PayloadKind::kAssurance), body, false));
    return ok();
  }
  Result<void> flush() override { return impl_.flush_outbox(); }
  Result<Bytes> seal(const std::string& alias, ByteView body) override {
    BC_ASSIGN_OR_RETURN(ContactRecord c, impl_.require<ContactRecord>(kContacts, alias,
                                                                      "unknown contact: " + alias));
    if (c.identity_changed) {
      return fail(Errc::kUntrustedIdentity, "the identity key of " + alias + " changed");
    }
    BC_TRY(impl_.encrypt_to(c, static_cast<std::uint32_t>(PayloadKind::kAssurance), body, false,
                            /*chained=*/false));
    // encrypt_to queued the envelope as the outbox's newest entry ("out" + sequence number, and
    // one more row per mirror relay under that key + '\x1f' + n). An escrow deposit goes to the
    // relay's escrow instead, never to the queue: every row of it is taken back out, in the same
    // transaction.
    BC_ASSIGN_OR_RETURN(auto rows, impl_.db->list(kOutbox));
    if (rows.empty()) return fail(Errc::kInternal, "the sealed envelope is not in the outbox");
    std::string primary = rows.back().first;
    if (const auto cut = primary.find('\x1f', primary.find('\x1f') + 1); cut != std::string::npos) {
      primary.resize(cut);
    }
    Bytes envelope;
    for (const auto& [key, raw] : rows) {
      if (key != primary && !key.starts_with(primary + '\x1f')) continue;
      BC_ASSIGN_OR_RETURN(OutboxRecord o, OutboxRecord::decode(raw));
      if (o.alias != alias)
        return fail(Errc::kInternal, "the sealed envelope is not in the outbox");
      if (envelope.empty()) envelope = std::move(o.envelope);
      BC_TRY(impl_.db->erase(kOutbox, key));
    }
    if (envelope.empty()) return fail(Errc::kInternal, "the sealed envelope is not in the outbox");
    return envelope;
  }
  Result<std::unique_ptr<RelayLink>> link(const std::string& url, ByteView fingerprint) override {
    return impl_.link(url, fingerprint);
  }
  Result<void> alert(const std::string& code, const std::string& alias, const std::string& text,
                     std::vector<Event>& events) override {
    AlertInfo a;
    a.code = code;
    a.alias = alias;
    a.text = text;
    return impl_.raise_alert(std::move(a), events);
  }
  Result<bool> outbox_empty() override {
    BC_ASSIGN_OR_RETURN(auto rows, impl_.db->list(kOutbox));
    return rows.empty();
  }

 private:
  Client::Impl& impl_;
};
}  // namespace

AssuranceBook Client::Impl::assurance_book() {
  if (!assurance_host) assurance_host = std::make_unique<ImplAssuranceHost>(*this);
  return AssuranceBook(*assurance_host);
}

Result<AssuranceInfo> Client::assure_propose(const std::string& alias,
                                             const AssuranceTerms& terms) {
  return impl_->assurance_book().propose(alias, terms);
}
Result<std::vector<AssuranceInfo>> Client::assurances() { return impl_->assurance_book().list(); }
Result<AssuranceInfo> Client::assurance(const std::string& id) {
  return impl_->assurance_book().show(id);
}
Result<AssuranceInfo> Client::assure_ack(const std::string& id) {
  return impl_->assurance_book().ack(id);
}
Result<AssuranceInfo> Client::assure_withdraw(const std::string& id) {
  return impl_->assurance_book().withdraw(id);
}
Result<std::string> Client::assure_export(const std::string& id, const std::string& path) {
  return impl_->assurance_book().export_to(id, path);
}
Result<VerifiedExport> Client::assure_verify(const std::string& path) {
  return AssuranceBook::verify_file(path);
}
Result<EscrowInfo> Client::escrow_open(const std::string& alias, std::int64_t deadline_in_ms) {
  return impl_->assurance_book().escrow_open(alias, deadline_in_ms);
}
Result<EscrowInfo> Client::escrow_deposit(const std::string& exchange_id,
                                          const AssuranceTerms& terms) {
  return impl_->assurance_book().escrow_deposit(exchange_id, terms);
}
Result<EscrowInfo> Client::escrow_cancel(const std::string& exchange_id) {
  return impl_->assurance_book().escrow_cancel(exchange_id);
}
Result<std::vector<EscrowInfo>> Client::escrows() { return impl_->assurance_book().escrows(); }

// ---- the public API ----

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

namespace {
std::string store_path(const std::string& home) { return (fs::path(home) / "store.db").string(); }

crypto::PwhashCost cost_of(KdfCost cost) {
  switch (cost) {
    case KdfCost::kModerate:
      return crypto::PwhashCost::moderate();
    case KdfCost::kInteractive:
      return crypto::PwhashCost::interactive();
    case KdfCost::kMinimum:
      return crypto::PwhashCost::minimum();
  }
  return crypto::PwhashCost::moderate();
}
}  // namespace

Result<std::unique_ptr<Client>> Client::init(const std::string& home, ByteView passphrase,
                                             const std::string& name, KdfCost cost,
                                             ClientOptions options) {
  BC_TRY(check_alias(name));
  if (passphrase.empty()) return fail(Errc::kMalformed, "the passphrase is empty");
  std::error_code ec;
  fs::create_directories(home, ec);
  if (ec) return fail(Errc::kUnavailable, "cannot create the home directory: " + ec.message());
  (void)::chmod(home.c_str(), 0700);
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  BC_ASSIGN_OR_RETURN(impl->db,
                      store::ClientStore::create(store_path(home), passphrase, cost_of(cost)));
  Rng& rng = impl->rng();
  const auto identity = protocol::IdentityKeyPair::generate(rng);
  SelfRecord s;
  s.name = name;
  s.identity_private = to_bytes(identity.pair.private_key.secret().expose());
  s.registration_id = protocol::generate_registration_id(rng);
  s.signed_prekey_id = 1;
  const auto spk = protocol::generate_signed_prekey(identity, 1, impl->now(), rng);
  s.signed_prekey_private = to_bytes(spk.pair.private_key.secret().expose());
  s.signed_prekey_signature = spk.signature;
  s.signed_prekey_ms = spk.timestamp_ms;
  auto saved = impl->save(kSelf, "identity", s);
  secure_zero(s.identity_private.data(), s.identity_private.size());
  secure_zero(s.signed_prekey_private.data(), s.signed_prekey_private.size());
  BC_TRY(std::move(saved));
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Result<std::unique_ptr<Client>> Client::open(const std::string& home, ByteView passphrase,
                                             ClientOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  auto db = store::ClientStore::open(store_path(home), passphrase);
  if (!db) {
    if (db.error().code == Errc::kNotFound) {
      return fail(Errc::kNotFound,
                  "no Backchannel home at " + home + " (run `backchannel init --name NAME`)");
    }
    return fail(std::move(db).error());
  }
  impl->db = std::move(db).value();
  BC_TRY(impl->self());
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Result<std::string> Client::name() {
  BC_ASSIGN_OR_RETURN(const SelfRecord s, impl_->self());
  return s.name;
}

Result<std::string> Client::identity_key_hex() {
  BC_ASSIGN_OR_RETURN(const SelfRecord s, impl_->self());
  BC_ASSIGN_OR_RETURN(const protocol::IdentityKeyPair me, impl_->identity(s));
  return to_hex(me.public_key().serialize());
}

Result<RelayInfo> Client::relay_add(const std::string& url, const std::string& fingerprint_hex) {
  BC_TRY(parse_relay_url(url));
  std::string digits;
  for (const char c : fingerprint_hex) {
    if (c != ':') digits += c;
  }
  auto fp = from_hex(digits);
  if (!fp || fp->size() != 32) {
    return fail(Errc::kMalformed, "the fingerprint must be the 64 hex digits of a SHA-256");
  }
  BC_ASSIGN_OR_RETURN(auto all, impl_->load_all<RelayRecord>(kRelays));
  const bool known =
      std::any_of(all.begin(), all.end(), [&](const auto& r) { return r.url == url; });
  if (!known && all.size() >= protocol::kMaxRelaysPerInvitation) {
    return fail(Errc::kLimitExceeded, "at most two relays: every contact is reached through both");
  }
  BC_ASSIGN_OR_RETURN(auto l, impl_->link(url, *fp));
  l->close();
  RelayRecord r;
  r.url = url;
  std::copy(fp->begin(), fp->end(), r.fingerprint.begin());
  r.order = static_cast<std::uint32_t>(all.size());
  for (const auto& existing : all) {
    if (existing.url == url) r.order = existing.order;
  }
  r.signing_key = l->relay_key();  // link() refused a key other than one pinned before
  BC_TRY(impl_->save(kRelays, url, r));
  return RelayInfo{url, to_hex(r.fingerprint), to_hex(r.signing_key)};
}

Result<std::vector<RelayInfo>> Client::relays() {
  BC_ASSIGN_OR_RETURN(auto all, impl_->load_all<RelayRecord>(kRelays));
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.order < b.order; });
  std::vector<RelayInfo> out;
  for (const auto& r : all) out.push_back({r.url, to_hex(r.fingerprint), to_hex(r.signing_key)});
  return out;
}

Result<InvitationInfo> Client::invite_create() {
  BC_ASSIGN_OR_RETURN(auto made, impl_->make_invitation(""));
  BC_ASSIGN_OR_RETURN(std::string code, made.first.to_code());
  return InvitationInfo{std::move(code), hex(made.first.id), made.first.expires_at_ms};
}

Result<ContactInfo> Client::invite_accept(const std::string& code,
                                          const std::optional<std::string>& alias) {
  BC_ASSIGN_OR_RETURN(const protocol::Invitation inv, protocol::Invitation::from_code(code));
  if (inv.expires_at_ms < impl_->now())
    return fail(Errc::kConflict, "this invitation code has expired");
  BC_ASSIGN_OR_RETURN(const std::string me, identity_key_hex());
  if (to_hex(inv.bundle.identity_key.serialize()) == me) {
    return fail(Errc::kConflict, "this is your own invitation code");
  }
  BC_ASSIGN_OR_RETURN(auto contacts_now, impl_->load_all<ContactRecord>(kContacts));
  for (const auto& c : contacts_now) {
    if (ct_equal(c.identity, inv.bundle.identity_key.serialize())) {
      return fail(Errc::kConflict, "you already have this contact, as " + c.alias);
    }
  }
  std::string chosen;
  if (alias) {
    BC_TRY(check_alias(*alias));
    BC_ASSIGN_OR_RETURN(auto existing, impl_->db->get(kContacts, *alias));
    if (existing) return fail(Errc::kConflict, "the alias " + *alias + " is already in use");
    chosen = *alias;
  } else {
    BC_ASSIGN_OR_RETURN(chosen, impl_->unique_alias(inv.name));
  }
  BC_TRY(protocol::verify_signed_prekey(inv.bundle.identity_key, inv.bundle.signed_prekey,
                                        inv.bundle.signed_prekey_signature));
  BC_ASSIGN_OR_RETURN(const ContactRecord c, impl_->accept_invitation(inv, chosen, ""));
  BC_TRY(impl_->flush_outbox());
  ContactInfo info;
  info.alias = c.alias;
  info.name = c.name;
  info.identity_key_hex = to_hex(c.identity);
  info.session_ready = true;
  info.relay_url = c.address.url;
  info.added_ms = c.added_ms;
  return info;
}

Result<std::string> Client::introduce(const std::string& a, const std::string& b) {
  if (a == b) return fail(Errc::kMalformed, "cannot introduce a contact to itself");
  BC_ASSIGN_OR_RETURN(ContactRecord ca,
                      impl_->require<ContactRecord>(kContacts, a, "unknown contact: " + a));
  BC_ASSIGN_OR_RETURN(ContactRecord cb,
                      impl_->require<ContactRecord>(kContacts, b, "unknown contact: " + b));
  std::array<std::uint8_t, 16> id{};
  impl_->rng().fill(id);
  const std::string id_hex = hex(id);
  BC_TRY(impl_->db->transaction([&](store::ClientStore&) -> Result<void> {
    IntroRecord intro;
    intro.role = IntroRole::kMediator;
    intro.state = "offered";
    intro.created_ms = impl_->now();
    intro.a = a;
    intro.b = b;
    BC_TRY(impl_->save(kIntros, id_hex, intro));
    for (int side = 0; side < 2; ++side) {
      ContactRecord& to = side == 0 ? ca : cb;
      const ContactRecord& other = side == 0 ? cb : ca;
      RecordWriter w;
      w.bytes(id).str(other.name).bytes(other.identity);
      const Bytes body = w.take();
      BC_TRY(impl_->encrypt_to(to, static_cast<std::uint32_t>(PayloadKind::kIntroductionOffer),
                               body, false));
    }
    return ok();
  }));
  BC_TRY(impl_->flush_outbox());
  return id_hex;
}

Result<std::vector<IntroductionInfo>> Client::introductions() {
  BC_ASSIGN_OR_RETURN(auto rows, impl_->db->list(kIntros));
  std::vector<IntroductionInfo> out;
  for (auto& [id, raw] : rows) {
    BC_ASSIGN_OR_RETURN(const IntroRecord r, IntroRecord::decode(raw));
    IntroductionInfo i;
    i.id = id;
    i.role = r.role == IntroRole::kMediator ? "mediator" : "party";
    i.mediator = r.mediator;
    i.other = r.role == IntroRole::kMediator ? r.a + " + " + r.b : r.other_name;
    i.other_identity_hex = to_hex(r.other_identity);
    i.state = r.state;
    i.created_ms = r.created_ms;
    out.push_back(std::move(i));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& x, const auto& y) { return x.created_ms < y.created_ms; });
  return out;
}

Result<void> Client::intro_accept(const std::string& id) { return impl_->answer_intro(id, true); }
Result<void> Client::intro_decline(const std::string& id) { return impl_->answer_intro(id, false); }

Result<std::vector<ContactInfo>> Client::contacts() {
  BC_ASSIGN_OR_RETURN(auto all, impl_->load_all<ContactRecord>(kContacts));
  std::vector<ContactInfo> out;
  for (const auto& c : all) {
    ContactInfo i;
    i.alias = c.alias;
    i.name = c.name;
    i.identity_key_hex = to_hex(c.identity);
    i.introduced_by = c.introduced_by;
    i.verified = c.verified && !c.identity_changed;
    i.identity_changed = c.identity_changed;
    i.session_ready = !c.session.empty();
    i.relay_url = c.address.url;
    i.added_ms = c.added_ms;
    out.push_back(std::move(i));
  }
  return out;
}

Result<SafetyNumber> Client::verify(const std::string& alias, bool confirm) {
  BC_ASSIGN_OR_RETURN(ContactRecord c,
                      impl_->require<ContactRecord>(kContacts, alias, "unknown contact: " + alias));
  BC_ASSIGN_OR_RETURN(const std::string me_hex, identity_key_hex());
  BC_ASSIGN_OR_RETURN(const Bytes me, from_hex(me_hex));
  BC_ASSIGN_OR_RETURN(const protocol::Fingerprint fp,
                      protocol::compute_fingerprint(me, c.identity));
  if (confirm) {
    c.verified = true;
    c.verified_identity = c.identity;
    c.identity_changed = false;
    BC_TRY(impl_->save(kContacts, alias, c));
  }
  return SafetyNumber{alias, fp.displayable(), fp.scannable(), c.verified && !c.identity_changed};
}

Result<MessageInfo> Client::send_text(const std::string& alias, const std::string& text) {
  if (text.empty()) return fail(Errc::kMalformed, "the message is empty");
  if (text.size() > kMaxFileSize) return fail(Errc::kLimitExceeded, "the message is over 48 KiB");
  MessageInfo info;
  BC_TRY(impl_->db->transaction([&](store::ClientStore&) -> Result<void> {
    BC_ASSIGN_OR_RETURN(ContactRecord c, impl_->require<ContactRecord>(
                                             kContacts, alias, "unknown contact: " + alias));
    if (c.identity_changed) {
      return fail(Errc::kUntrustedIdentity,
                  "the identity key of " + alias +
                      " changed: compare safety numbers and run `verify " + alias +
                      " --confirm` first");
    }
    BC_ASSIGN_OR_RETURN(
        auto sent,
        impl_->encrypt_to(c, static_cast<std::uint32_t>(PayloadKind::kText), as_bytes(text), true));
    info = impl_->to_info(alias, sent.first);
    return ok();
  }));
  BC_TRY(impl_->flush_after_send(alias));
  info.status = "sent";
  return info;
}

Result<MessageInfo> Client::send_file(const std::string& alias, const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return fail(Errc::kNotFound, "cannot read " + path + ": " + ec.message());
  if (size > kMaxFileSize) return fail(Errc::kLimitExceeded, "the file is over 48 KiB");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  if (!in.good() && !in.eof()) return fail(Errc::kUnavailable, "cannot read " + path);
  RecordWriter w;
  w.str(fs::path(path).filename().string()).str(content.str());
  const Bytes body = w.take();
  MessageInfo info;
  BC_TRY(impl_->db->transaction([&](store::ClientStore&) -> Result<void> {
    BC_ASSIGN_OR_RETURN(ContactRecord c, impl_->require<ContactRecord>(
                                             kContacts, alias, "unknown contact: " + alias));
    if (c.identity_changed)
      return fail(Errc::kUntrustedIdentity, "the identity key of " + alias + " changed");
    BC_ASSIGN_OR_RETURN(
        auto sent,
        impl_->encrypt_to(c, static_cast<std::uint32_t>(PayloadKind::kFile), body, true));
    info = impl_->to_info(alias, sent.first);
    return ok();
  }));
  BC_TRY(impl_->flush_after_send(alias));
  info.status = "sent";
  return info;
}

Result<std::vector<Event>> Client::sync() {
  std::vector<Event> events;
  BC_TRY(impl_->send_heartbeats());
  BC_TRY(impl_->flush_outbox());
  for (int pass = 0; pass < 3; ++pass) {
    impl_->any_deferred = false;
    BC_ASSIGN_OR_RETURN(const auto qs, impl_->queues());
    BC_ASSIGN_OR_RETURN(const auto relays, impl_->load_all<RelayRecord>(kRelays));
    for (const auto& relay : relays) {
      const bool used = std::any_of(qs.begin(), qs.end(),
                                    [&](const auto& q) { return q.relay_url == relay.url; });
      if (!used) continue;
      BC_TRY(impl_->receive_from_relay(relay, qs, events, impl_->options.sync_quiet_ms, nullptr,
                                       nullptr));
    }
    BC_TRY(impl_->flush_outbox());
    // Escrowed exchanges: a release found here may still have its deposit in our queue.
    bool again = false;
    BC_TRY(impl_->assurance_book().poll_escrows(events, again));
    if (!impl_->any_deferred && !again) break;
  }
  BC_TRY(impl_->assurance_book().after_sync(events));
  BC_TRY(impl_->check_silences(events));
  return events;
}

Result<void> Client::watch(const std::function<void(const Event&)>& on_event,
                           const std::atomic<bool>& stop) {
  std::uint32_t backoff_ms = 100;
  while (!stop.load()) {
    auto pass = [&]() -> Result<void> {
      BC_TRY(impl_->send_heartbeats());
      BC_TRY(impl_->flush_outbox());
      BC_ASSIGN_OR_RETURN(const auto qs, impl_->queues());
      BC_ASSIGN_OR_RETURN(const auto relays, impl_->load_all<RelayRecord>(kRelays));
      std::vector<Event> events;
      for (const auto& relay : relays) {
        BC_TRY(impl_->receive_from_relay(relay, qs, events, impl_->options.watch_idle_ms, &on_event,
                                         &stop));
      }
      BC_TRY(impl_->flush_outbox());
      std::vector<Event> changes;
      bool again = false;  // the next pass receives (and settles) what a release put in our queue
      BC_TRY(impl_->assurance_book().poll_escrows(changes, again));
      BC_TRY(impl_->assurance_book().after_sync(changes));
      BC_TRY(impl_->check_silences(changes));
      for (const auto& e : changes) on_event(e);
      return ok();
    };
    auto r = pass();
    if (r) {
      backoff_ms = 100;
      continue;
    }
    if (r.error().code != Errc::kUnavailable) return r;
    Event e;
    e.kind = EventKind::kWarning;
    e.text = "relay unreachable (" + r.error().detail + "); retrying";
    on_event(e);
    for (std::uint32_t waited = 0; waited < backoff_ms && !stop.load(); waited += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    backoff_ms = std::min<std::uint32_t>(backoff_ms * 2, 2000);
  }
  return ok();
}

Result<std::vector<HeldEnvelope>> Client::held_by_relays() {
  std::vector<HeldEnvelope> out;
  BC_ASSIGN_OR_RETURN(const auto qs, impl_->queues());
  BC_ASSIGN_OR_RETURN(const auto relays, impl_->load_all<RelayRecord>(kRelays));
  for (const auto& relay : relays) {
    BC_ASSIGN_OR_RETURN(auto l, impl_->link(relay.url, relay.fingerprint));
    for (const auto& q : qs) {
      if (q.relay_url != relay.url) continue;
      BC_ASSIGN_OR_RETURN(const crypto::Ed25519KeyPair owner,
                          crypto::ed25519_from_seed(q.owner_seed));
      BC_TRY(l->subscribe(q.recipient_id, owner.private_key));
    }
    // Pushed envelopes are looked at and left unacknowledged: the relay keeps them.
    for (;;) {
      BC_ASSIGN_OR_RETURN(auto d, l->next_delivery(impl_->options.sync_quiet_ms));
      if (!d) break;
      out.push_back(
          {relay.url, hex(d->recipient_id), d->message_id, d->envelope.size(), d->relay_time_ms});
    }
    l->close();
  }
  return out;
}

Result<void> Client::set_heartbeat_interval(std::uint32_t interval_ms) {
  RecordWriter w;
  w.u32(interval_ms);
  return impl_->db->put(kConfig, "heartbeat_interval_ms", w.take());
}

Result<std::uint32_t> Client::heartbeat_interval() { return impl_->heartbeat_interval(); }

Result<std::vector<AlertInfo>> Client::alerts(const std::string& alias) {
  if (!alias.empty()) {
    BC_ASSIGN_OR_RETURN(auto c, impl_->load<ContactRecord>(kContacts, alias));
    if (!c) return fail(Errc::kNotFound, "unknown contact: " + alias);
  }
  return load_alerts(*impl_->db, alias);
}

namespace {
// attach_receipts adds to a transcript file the relay receipts kept for its entries' envelopes,
// each with what checks it offline: the relay's pinned signing key and the sender id of the
// queue the envelope went into (the contact's queue for ours, our queue for theirs).
Result<void> attach_receipts(Client::Impl& impl, const ContactRecord& c, TranscriptFile& f) {
  std::map<std::string, std::array<std::uint8_t, 32>> relay_keys;
  BC_ASSIGN_OR_RETURN(const auto relays, impl.load_all<RelayRecord>(kRelays));
  for (const RelayRecord& r : relays) relay_keys[r.url] = r.signing_key;
  std::map<std::string, wire::QueueId> theirs;  // relay url -> the contact's queue there
  BC_ASSIGN_OR_RETURN(auto addresses, load_mirrors(*impl.db, c.alias));
  addresses.insert(addresses.begin(), c.address);
  for (const protocol::RelayAddress& a : addresses) {
    std::copy_n(a.queue.begin(), wire::kQueueIdSize, theirs[a.url].begin());
    if (!relay_keys.contains(a.url)) relay_keys[a.url] = a.relay_key;
  }
  std::map<std::string, wire::QueueId> ours;  // relay url -> our queue for the contact there
  BC_ASSIGN_OR_RETURN(const auto queues, impl.load_all<QueueRecord>(kQueues));
  for (const QueueRecord& q : queues) {
    if (q.ref == c.alias) ours[q.relay_url] = q.sender_id;
  }
  std::map<std::string, std::uint32_t> entry_of;  // envelope SHA-256 hex -> entry index
  for (std::uint32_t i = 0; i < f.entries.size(); ++i) {
    if (!f.entries[i].envelope_sha256_hex.empty()) entry_of[f.entries[i].envelope_sha256_hex] = i;
  }
  BC_ASSIGN_OR_RETURN(const auto kept, load_receipts(*impl.db));
  for (const auto& [message, list] : kept) {
    for (const ReceiptInfo& info : list) {
      const auto e = entry_of.find(info.envelope_hash_hex);
      if (e == entry_of.end()) continue;
      const auto& queues_there = f.entries[e->second].outgoing ? theirs : ours;
      const auto queue = queues_there.find(info.relay_url);
      const auto key = relay_keys.find(info.relay_url);
      if (queue == queues_there.end() || key == relay_keys.end()) continue;
      auto hash = from_hex(info.envelope_hash_hex);
      auto signature = from_hex(info.signature_hex);
      if (!hash || hash->size() != 32 || !signature || signature->size() != 64) continue;
      FileReceipt r;
      r.entry = e->second;
      r.relay_url = info.relay_url;
      r.relay_key = key->second;
      r.sender_id = queue->second;
      r.seq = info.seq;
      r.relay_time_ms = info.relay_time_ms;
      std::copy(hash->begin(), hash->end(), r.envelope_hash.begin());
      std::copy(signature->begin(), signature->end(), r.signature.begin());
      r.batch_size = info.batch_size;
      r.batch_index = info.batch_index;
      auto path = from_hex(info.batch_path_hex);
      if (!path || path->size() % 32 != 0) continue;
      for (std::size_t at = 0; at < path->size(); at += 32) {
        auto& node = r.batch_path.emplace_back();
        std::copy_n(path->begin() + static_cast<std::ptrdiff_t>(at), 32, node.begin());
      }
      f.receipts.push_back(std::move(r));
    }
  }
  return ok();
}

// transcript_file_of gathers a contact's chain as this side recorded it.
Result<TranscriptFile> transcript_file_of(Client& self, Client::Impl& impl,
                                          const std::string& alias) {
  BC_ASSIGN_OR_RETURN(auto c, impl.load<ContactRecord>(kContacts, alias));
  if (!c) return fail(Errc::kNotFound, "unknown contact: " + alias);
  BC_ASSIGN_OR_RETURN(const std::string me, self.identity_key_hex());
  BC_ASSIGN_OR_RETURN(Bytes our_identity, from_hex(me));
  TranscriptFile f;
  f.our_identity = std::move(our_identity);
  f.their_identity = c->identity;
  f.exported_ms = impl.now();
  BC_ASSIGN_OR_RETURN(f.entries, load_chain(*impl.db, alias));
  BC_TRY(attach_receipts(impl, *c, f));
  return f;
}
}  // namespace

Result<TranscriptCheck> Client::transcript(const std::string& alias) {
  BC_ASSIGN_OR_RETURN(const TranscriptFile f, transcript_file_of(*this, *impl_, alias));
  return check_transcript(f);
}

Result<void> Client::transcript_export(const std::string& alias, const std::string& path) {
  BC_ASSIGN_OR_RETURN(const TranscriptFile f, transcript_file_of(*this, *impl_, alias));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << encode_transcript_file(f);
  out.close();
  if (!out) return fail(Errc::kUnavailable, "cannot write " + path);
  return ok();
}

Result<TranscriptCheck> Client::transcript_verify(const std::string& path) {
  constexpr std::uintmax_t kMaxFile = 256ULL * 1024 * 1024;
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return fail(Errc::kNotFound, "cannot read " + path + ": " + ec.message());
  if (size > kMaxFile) return fail(Errc::kMalformed, "not a Backchannel transcript (too large)");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  BC_ASSIGN_OR_RETURN(const TranscriptFile f, decode_transcript_file(text.str()));
  return check_transcript(f);
}

Result<std::vector<MessageInfo>> Client::history(const std::string& alias) {
  BC_ASSIGN_OR_RETURN(auto c, impl_->load<ContactRecord>(kContacts, alias));
  if (!c) return fail(Errc::kNotFound, "unknown contact: " + alias);
  BC_ASSIGN_OR_RETURN(auto rows, impl_->db->list(kMessages));
  BC_ASSIGN_OR_RETURN(auto receipts, load_receipts(*impl_->db));
  std::vector<MessageInfo> out;
  const std::string prefix = alias + '\x1f';
  for (auto& [key, raw] : rows) {
    if (!key.starts_with(prefix)) continue;
    BC_ASSIGN_OR_RETURN(const MessageRecord m, MessageRecord::decode(raw));
    out.push_back(impl_->to_info(alias, m));
    if (auto it = receipts.find(key); it != receipts.end()) out.back().receipts = it->second;
  }
  return out;
}

}  // namespace bc::client
