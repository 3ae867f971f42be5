/* escrow_dishonest.pml: the escrowed exchange with a relay that may cheat in any way its
 * position allows, and two honest parties making the client's checks (escrow_parties.pml).
 *
 * The relay keeps every deposit it is given (a cancel changes nothing for it) and, up to
 * BUDGET times, gives either party anything it can make: an envelope (A's deposit, B's
 * deposit, or a forgery) or a certificate it signs with any content (hash_a and hash_b of
 * anything it holds or forged; this exchange's id and deadline or another's; any release time,
 * before the deadline or not). So it can release one side and withhold or alter the other, release early, release
 * after expiry, release a cancelled deposit, send several certificates, or say nothing. It
 * cannot forge a party's session authentication, nor know a deposit it was not given. Telling
 * a party "expired" gives it nothing, so is the same as saying nothing.
 *
 * What a party holds only grows and its checks commute, so when a message arrives does not
 * change what it ends with: the relay giving a party something is modelled as the party
 * receiving it, and a deposit as the relay having it (the relay may always wait).
 *
 *   spin -a escrow_dishonest.pml && cc -O2 -o pan pan.c && ./pan -a -N <property>
 *
 * -DBROKEN_CHECK builds parties that skip the session's authentication of a received deposit;
 * scripts/check-models requires spin to catch that. */
#include "escrow_parties.pml"

#ifndef BUDGET
#define BUDGET 4
#endif

/* done: nothing can move any more (both parties decided, the relay finished); set by Judge. */
bool done = false;
/* seen[p]: the deposit the relay was given by p. */
byte seen[2];

/* An honest party deposits its assurance or never does. */
proctype Party(byte me) {
  if
  :: atomic { seen[me] = MINE(me); deposited[me] = true }
  :: skip
  fi
}

/* pick_held(v): v becomes something the relay can put in an envelope or name in a certificate. */
inline pick_held(v) {
  if
  :: seen[A] != NONE -> v = seen[A]
  :: seen[B] != NONE -> v = seen[B]
  :: v = FORGED
  fi
}

active proctype Relay() {
  byte budget = BUDGET;
  byte who, x, y, fl;
  do
  :: atomic {
       budget > 0 ->
       budget--;
       if
       :: who = A
       :: who = B
       fi;
       if
       :: pick_held(x); on_deliver(who, x)
       :: pick_held(x); pick_held(y);
          if
          :: fl = CERT_THIS
          :: fl = CERT_THIS | CERT_LATE
          :: fl = 0
          fi;
          on_cert(who, x, y, fl)
       fi;
       who = 0; x = 0; y = 0; fl = 0
     }
  :: budget > 0 -> budget = 0 /* stops */
  :: budget == 0 -> break
  od
}

active proctype Judge() {
  timeout -> done = true
}

init {
  atomic { run Party(A); run Party(B) }
}

/* unfair(p): the counterparty holds p's assurance and p does not hold the counterparty's. */
#define unfair(p) (received(OTHER(p), MINE(p)) && !received(p, MINE(OTHER(p))))

/* (6) Every unfair outcome in which the cheated party holds a certificate for the exchange (one
 *     that verifies) leaves it holding proof: a certificate wrong on its face (naming as its
 *     deposit one it never made) or naming a counterparty deposit it did not receive
 *     authenticated. */
ltl cheated_certified_has_proof {
  [] (done -> ((unfair(A) && certified_any(A) -> proof(A)) &&
               (unfair(B) && certified_any(B) -> proof(B))))
}

/* (7) A party that accepts the exchange as fair really received the counterparty's deposit:
 *     no relay makes a party accept a withheld or altered deposit. */
ltl accepted_is_genuine {
  [] (done -> ((accepts(A) -> received(A, DB)) && (accepts(B) -> received(B, DA))))
}

/* (L) The limit, expected to FAIL: a relay that releases one side's deposit and gives the
 *     other side no certificate at all leaves that side without proof. */
ltl cheated_always_has_proof {
  [] (done -> ((unfair(A) -> proof(A)) && (unfair(B) -> proof(B))))
}
