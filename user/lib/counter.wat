;; /lib/counter.wasm: a shared library for weft (see user/README.md, "Shared libraries").
;;
;; It owns no memory: it imports its caller's as `env.memory`, and every function works on
;; addresses the caller gives. The kernel links one instance of it into each process that
;; imports from `lib/counter`, against that process's own memory, so two processes using it
;; at once never see each other's counters.
(module
  (import "env" "memory" (memory 0))

  ;; add(ptr, n) -> the i32 at `ptr` plus `n` (wrapping), stored back at `ptr`.
  (func (export "add") (param $ptr i32) (param $n i32) (result i32)
    (local $value i32)
    (local.set $value (i32.add (i32.load (local.get $ptr)) (local.get $n)))
    (i32.store (local.get $ptr) (local.get $value))
    (local.get $value))

  ;; get(ptr) -> the i32 at `ptr`.
  (func (export "get") (param $ptr i32) (result i32)
    (i32.load (local.get $ptr)))

  ;; fill(ptr, count, value): stores `value` in the `count` i32s starting at `ptr`.
  (func (export "fill") (param $ptr i32) (param $count i32) (param $value i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $count)))
        (i32.store (local.get $ptr) (local.get $value))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 4)))
        (local.set $count (i32.sub (local.get $count) (i32.const 1)))
        (br $next))))
)
