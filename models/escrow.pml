/* escrow.pml: the escrowed reciprocal exchange (docs/assurances.md) with an honest relay, two
 * parties that may each deposit or not and cancel at any time, and a deadline.
 *
 *   spin -a escrow.pml && cc -O2 -DNFAIR=3 -o pan pan.c && ./pan -a -f -N <property>
 *
 * -DBROKEN_EARLY_RELEASE builds a deliberately wrong relay that releases as soon as one
 * deposit is in; scripts/check-models requires spin to catch it. */
#include "escrow_parties.pml"

mtype = { DEPOSIT, CANCEL,       /* party -> relay: EscrowDeposit, EscrowCancel */
          DELIVER, CERT, EXPIRED, /* relay -> party: an envelope in its queue, the certificate,
                                     the status "expired" */
          OPEN, RELEASED, EXPIRED_STATE };

/* toRelay: {kind, party, deposit}. mbox[p]: {kind, x, y, flags}: DELIVER x = the envelope;
 * CERT x = hash_a, y = hash_b. Each party sends at most two requests, gets at most two. */
chan toRelay = [4] of { mtype, byte, byte };
chan mbox[2] = [2] of { mtype, byte, byte, byte };

/* The deadline: relay time passes it once, at any moment. */
bool past = false;

active proctype Clock() {
  past = true
}

/* The relay's state for the exchange, and dep[p]: the relay accepted p's deposit (so before the
 * deadline) and p did not withdraw it. Read only by the properties. */
mtype state = OPEN;
bool dep[2];

/* A release certificate for this exchange, released before the deadline. */
inline send_certificate(p, ha, hb) {
  mbox[p]!CERT, ha, hb, CERT_THIS
}

/* Release: one store transaction puts each deposit in the other's queue, stores and sends the
 * certificate, and deletes the deposits. */
inline release() {
  mbox[B]!DELIVER, held[A], NONE, 0;
  mbox[A]!DELIVER, held[B], NONE, 0;
  send_certificate(A, held[A], held[B]);
  send_certificate(B, held[A], held[B]);
  held[A] = NONE; held[B] = NONE;
  state = RELEASED
}

/* Expiry: the relay deletes what it holds and tells each side only that the exchange expired. */
inline expire() {
  held[A] = NONE; held[B] = NONE;
  state = EXPIRED_STATE;
  mbox[A]!EXPIRED, NONE, NONE, 0;
  mbox[B]!EXPIRED, NONE, NONE, 0
}

active proctype Relay() {
  byte held[2];
  mtype kind;
  byte who, d;
end:
  do
  :: atomic { state == OPEN && past -> expire() }
  :: atomic {
       toRelay?kind, who, d ->
       /* The relay reads its clock on every request: past the deadline, it expires first. */
       if
       :: state == OPEN && past -> expire()
       :: else -> skip
       fi;
       if
       :: kind == DEPOSIT && state == OPEN && held[who] == NONE ->
          held[who] = d;
          dep[who] = true;
#ifdef BROKEN_EARLY_RELEASE
          if
          :: held[A] != NONE || held[B] != NONE ->
             mbox[OTHER(who)]!DELIVER, held[who], NONE, 0;
             state = RELEASED
          :: else -> skip
          fi
#else
          if
          :: held[A] != NONE && held[B] != NONE -> release()
          :: else -> skip
          fi
#endif
       :: kind == CANCEL && state == OPEN && held[who] != NONE ->
          held[who] = NONE;
          dep[who] = false
       :: else -> skip /* refused: duplicate, cancel of nothing, after release or expiry */
       fi;
       kind = 0; who = 0; d = 0
     }
  od
}

/* An honest party: it may deposit or never deposit, cancel or not, and takes no initiative
 * after it stops (so weak fairness makes it read its queue, never forces it to deposit). */
proctype Party(byte me) {
  bool acting = true;
  bool cancelled = false;
  byte x, y, fl;
end:
  do
  :: atomic { acting && !deposited[me] -> toRelay!DEPOSIT, me, MINE(me); deposited[me] = true }
  :: atomic { acting && deposited[me] && !cancelled -> toRelay!CANCEL, me, NONE; cancelled = true }
  :: acting -> acting = false
  :: atomic { mbox[me]?DELIVER, x, y, fl -> on_deliver(me, x); x = 0; y = 0; fl = 0 }
  :: atomic { mbox[me]?CERT, x, y, fl -> on_cert(me, x, y, fl); x = 0; y = 0; fl = 0 }
  :: atomic { mbox[me]?EXPIRED, x, y, fl -> x = 0; y = 0; fl = 0 }
  od
}

init {
  atomic { run Party(A); run Party(B) }
}

/* (1) Neither party receives the other's assurance unless, before that, both deposits were in
 *     and the deadline had not passed. */
#define both_in (dep[A] && dep[B] && !past)
ltl no_early_release { (!(received(A, DB) || received(B, DA))) W both_in }

/* (2) After a release, both eventually hold both (under weak fairness): each has the other's
 *     deposit and a certificate naming it. */
ltl release_completes { [] (state == RELEASED -> <> (holds(A) && holds(B))) }

/* (3) After expiry, nobody holds the other's assurance, ever. */
ltl expiry_withholds { [] (state == EXPIRED_STATE -> [] (!received(A, DB) && !received(B, DA))) }

/* (4) An honest relay never leaves a party with anything it could hold against the relay. */
ltl honest_not_accused { [] (!proof(A) && !proof(B)) }

/* (5) Every exchange ends, released or expired (under weak fairness). */
ltl exchange_ends { <> (state == RELEASED || state == EXPIRED_STATE) }
