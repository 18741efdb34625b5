"""The baseline relay: the SDK's parsed chunk objects (bench.sdk_relay.SDKRelayProvider)."""

from collections.abc import AsyncIterator

import openai
from django.conf import settings

from ai_assist.providers.base import Completion, Prompt, ProviderError
from ai_assist.providers.openai import OpenAIProvider


class SDKRelayProvider(OpenAIProvider):
    """What a plain relay does: `create(stream=True)` and `chunk.choices[0].delta.content`."""

    name = "openai"

    async def stream(self, prompt: Prompt, completion: Completion) -> AsyncIterator[str]:
        try:
            chunks = await self._client().chat.completions.create(
                model=settings.AI_MODEL,
                messages=prompt.messages,  # type: ignore[arg-type]
                max_tokens=settings.AI_MAX_TOKENS,
                temperature=settings.AI_TEMPERATURE,
                stream=True,
                stream_options={"include_usage": True},
            )
            async with chunks:
                ended = False
                async for chunk in chunks:
                    if chunk.usage:
                        completion.usage = chunk.usage.model_dump()
                    if chunk.choices:
                        ended = ended or chunk.choices[0].finish_reason is not None
                        if content := chunk.choices[0].delta.content:
                            yield content
            if not ended:
                raise ProviderError("The AI service's answer was cut off before it ended.")
        except openai.APIError:
            raise ProviderError("The AI service failed.") from None
