#!/usr/bin/env python3
# Run from the repository root: python3 tests/scripts/engine-mutants.py (edits
# core/src/replica/engine.rs one mutant at a time and restores it; use a clone).
# Hand mutants of the macro bodies in core/src/replica/engine.rs (cargo-mutants
# does not mutate inside macro_rules!). Each is applied alone; the core's lib
# tests must fail for it to count as caught.
import subprocess, sys
P='core/src/replica/engine.rs'
orig=open(P).read()
M=[
 ("has_work ignores reads", "self.read_round_due()\n                || (0..", "false\n                || (0.."),
 ("commit notice also after a send", "if !sent && commit_moved && self.commit_notice_due(i)", "if commit_moved && self.commit_notice_due(i)"),
 ("commit notice never", "if !sent && commit_moved && self.commit_notice_due(i)", "if false"),
 ("chunks: report nothing sent", "self.send_snapshot_chunks(i);\n                        return true;\n                    }\n                    Due::Compacted", "self.send_snapshot_chunks(i);\n                        return false;\n                    }\n                    Due::Compacted"),
 ("compacted: no snapshot state", "self.peers[i].become_snapshot(index);\n", ""),
 ("nothing sent counts as sent", "None => return sent,", "None => return true,"),
 ("stream stops when more may follow", "if !more {", "if more {"),
 ("read round before reads can be served", "self.reads.has_waiting() && self.can_serve_reads()", "self.reads.has_waiting()"),
 ("flush_reads inverted", "if !self.read_round_due() {", "if self.read_round_due() {"),
 ("reads never confirmed", "self.reads.confirm(round, &mut self.outbox.reads);", "let _ = round;"),
 ("first entry held to the uncommitted bound", "if self.uncommitted_bytes > 0 && self.uncommitted_bytes + len", "if self.uncommitted_bytes + len"),
 ("entry limit off by one", "if len > self.cfg.max_entry_bytes {", "if len >= self.cfg.max_entry_bytes {"),
 ("lease read before the term commits", "let serve_now = lease && self.can_serve_reads();", "let serve_now = lease;"),
 ("lease ignored", "let serve_now = lease && self.can_serve_reads();", "let serve_now = false && lease;"),
 ("installed snapshot: stay in snapshot state", "                    pr.become_probe();\n                }\n                self.maybe_commit();", "                }\n                self.maybe_commit();"),
 ("installed snapshot: no commit", "                self.maybe_commit();\n                return;", "                return;"),
 ("chunk answers ignored", "pr.state.on_chunk_answer(&r, chunk);", "let _ = (r, chunk);"),
 ("snapshot answer not heard", "            pr.recent_active = true;\n            pr.last_heard = Some(now);\n            if r.done", "            let _ = now;\n            if r.done"),
 ("persisted leader never commits", "                // thesis §10.2.1; a Multi-Paxos leader's own acceptance alike).\n                self.maybe_commit();", "                // thesis §10.2.1; a Multi-Paxos leader's own acceptance alike)."),
 ("has_output without the leader", "|| (self.role == $crate::replica::Role::Leader && self.leader_has_work())", ""),
 ("poll_output never flushes", "if self.role == $crate::replica::Role::Leader {\n                self.flush_leader();", "if false {\n                self.flush_leader();"),
 ("persist ids not checked", "if !self.durability.persisted(id) {\n                return;\n            }", "let _ = self.durability.persisted(id);"),
]
caught=0
for name,a,b in M:
    if a not in orig:
        print("NOT APPLICABLE:",name); continue
    open(P,'w').write(orig.replace(a,b,1))
    r=subprocess.run("timeout 600 cargo test -q -p synod-core --lib 2>&1 | tail -3",shell=True,capture_output=True,text=True)
    ok = "test result: ok" in r.stdout
    print(("MISSED " if ok else "caught ")+name, flush=True)
    caught += (not ok)
open(P,'w').write(orig)
print(f"{caught}/{len(M)} caught")
