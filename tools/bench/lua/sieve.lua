-- sieve.lua: the same algorithm, parameters and output as programs/sieve.s (the sieve of
-- Eratosthenes over 0 .. N-1, K times; prints the number of primes and the largest).
local N, K = 800000, 30
local flags = {}
local count, largest = 0, 0
for _ = 1, K do
  for i = 2, N - 1 do flags[i] = 1 end
  local p = 2
  while p * p < N do
    if flags[p] ~= 0 then
      for j = p * p, N - 1, p do flags[j] = 0 end
    end
    p = p + 1
  end
  count, largest = 0, 0
  for i = 2, N - 1 do
    if flags[i] ~= 0 then
      count = count + 1
      largest = i
    end
  end
end
io.write(string.format("primes below %d: %d, largest %d\n", N, count, largest))
