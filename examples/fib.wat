;; Naive recursive Fibonacci: fib(n) = n for n < 2, else fib(n-1) + fib(n-2).
;;
;;   cargo run --release -p weft -- run examples/fib.wat --invoke fib 20
(module
  (func $fib (export "fib") (param $n i64) (result i64)
    (if (result i64) (i64.lt_s (local.get $n) (i64.const 2))
      (then (local.get $n))
      (else
        (i64.add
          (call $fib (i64.sub (local.get $n) (i64.const 1)))
          (call $fib (i64.sub (local.get $n) (i64.const 2))))))))
