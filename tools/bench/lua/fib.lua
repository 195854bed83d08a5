-- fib.lua: the same algorithm, parameters and output as programs/fib.s (naive recursive
-- Fibonacci).
local N = 35
local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end
io.write(string.format("fib(%d) = %d\n", N, fib(N)))
