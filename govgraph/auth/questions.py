"""The yes/no question budget: how many different questions one principal may ask about one entity.

A verify-only grant answers ``annualIncome(lt: 60000)`` with true or false.
Within one operation at most ``max_verify_questions`` different questions
are answered per field; across operations a principal could still bisect a
value with a dozen requests. So each principal may ask at most
``per_window`` different questions about one field of one entity within
``window`` seconds, counted from the first. Asking the same question again
tells nothing new and is free. Past the bound the answer is ``FORBIDDEN``,
with the time the window resets, and the refusal is audited.

With ``GOVGRAPH_RATE_LIMIT_URL=redis://...`` the budget is shared by every
process (an atomic Lua script per question); otherwise it is per process.
While Redis cannot be reached, each process budgets on its own and the log
says so. Budget keys are hashes: neither officers' ids nor resident ids are
stored.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from govgraph.redis_connections import REDIS_ERRORS, RedisHealth, redis_client


@dataclass(frozen=True, slots=True)
class Question:
    subject: str
    coordinate: str
    key: str
    signature: str

    @property
    def budget_key(self) -> str:
        digest = hashlib.sha256(f"{self.subject}\x1f{self.coordinate}\x1f{self.key}".encode()).hexdigest()
        return f"gg:verify:{digest}"

    @property
    def question_id(self) -> str:
        return hashlib.sha256(self.signature.encode()).hexdigest()[:32]


class QuestionWindow(Protocol):
    window: float
    per_window: int

    async def ask(self, questions: Sequence[Question]) -> list[float | None]:
        """For each question: ``None`` when it may be answered, else the Unix time its window resets."""

    async def close(self) -> None: ...


class MemoryQuestions:
    def __init__(
        self,
        window: float,
        per_window: int,
        clock: Callable[[], float] = time.time,
        max_budgets: int = 200_000,
    ) -> None:
        self.window = window
        self.per_window = per_window
        self.clock = clock
        self.max_budgets = max_budgets
        self._budgets: OrderedDict[str, tuple[float, set[str]]] = OrderedDict()

    async def ask(self, questions: Sequence[Question]) -> list[float | None]:
        now = self.clock()
        answers: list[float | None] = []
        for question in questions:
            key = question.budget_key
            budget = self._budgets.get(key)
            if budget is None or budget[0] <= now:
                budget = (now + self.window, set())
                self._budgets[key] = budget
                self._budgets.move_to_end(key)
            resets, asked = budget
            identity = question.question_id
            if identity in asked:
                answers.append(None)
            elif len(asked) < self.per_window:
                asked.add(identity)
                answers.append(None)
            else:
                answers.append(resets)
        while len(self._budgets) > self.max_budgets:
            self._budgets.popitem(last=False)
        return answers

    async def close(self) -> None:
        self._budgets.clear()


ASK_SCRIPT = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 0 end
local asked = redis.call('SCARD', KEYS[1])
if asked >= tonumber(ARGV[2]) then
  local left = redis.call('PTTL', KEYS[1])
  if left < 1 then left = tonumber(ARGV[3]) end
  return left
end
redis.call('SADD', KEYS[1], ARGV[1])
if asked == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 0
"""


class RedisQuestions:
    def __init__(
        self,
        url: str,
        window: float,
        per_window: int,
        clock: Callable[[], float] = time.time,
        *,
        pool_size: int = 32,
        timeout: float = 2.0,
    ) -> None:
        self.window = window
        self.per_window = per_window
        self.clock = clock
        self._client = redis_client(url, pool_size=pool_size, timeout=timeout)
        self._ask = self._client.register_script(ASK_SCRIPT)
        self._local = MemoryQuestions(window, per_window, clock)
        self.health = RedisHealth("yes/no question budget")

    async def ask(self, questions: Sequence[Question]) -> list[float | None]:
        if not questions:
            return []
        if self.health.usable:
            try:
                answers = await self._ask_shared(questions)
            except REDIS_ERRORS as error:
                self.health.failed(error)
            else:
                self.health.succeeded()
                return answers
        return await self._local.ask(questions)

    async def _ask_shared(self, questions: Sequence[Question]) -> list[float | None]:
        window_ms = max(1, math.ceil(self.window * 1000))
        async with self._client.pipeline(transaction=False) as pipeline:
            for question in questions:
                await self._ask(
                    keys=[question.budget_key],
                    args=[question.question_id, self.per_window, window_ms],
                    client=pipeline,
                )
            left = await pipeline.execute()
        now = self.clock()
        return [None if int(milliseconds) == 0 else now + int(milliseconds) / 1000 for milliseconds in left]

    async def close(self) -> None:
        await self._client.aclose()
        await self._local.close()
        await self._local.close()
