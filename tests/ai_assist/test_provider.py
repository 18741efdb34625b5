"""The OpenAI provider on its own: the real SDK against a socket that fails in a known way.

(A refused connection is tested through the service: test_legacy.)
"""

import asyncio
import contextlib
import socket
import struct
import threading
import time

from ai_assist.providers.base import Completion, Prompt, ProviderError
from ai_assist.providers.openai import OpenAIProvider

PROMPT = Prompt(kind="refine", context={}, messages=[{"role": "user", "content": "Hello"}])


async def failure() -> ProviderError:
    """Stream with the settings as they are; return the ProviderError that ends the stream."""
    provider = OpenAIProvider()
    try:
        async for _ in provider.stream(PROMPT, Completion(model="gpt-4o-mini")):
            pass
    except ProviderError as error:
        return error
    finally:
        await provider._client().close()
    raise AssertionError("the stream ended without an error")


def test_a_connection_not_accepted_in_time_is_a_time_out(settings):
    settings.OPENAI_API_KEY = "sk-test-not-a-real-key"
    settings.AI_MAX_RETRIES = 0
    settings.AI_TIMEOUT = 1  # the time-out to connect, too
    # A server whose queue of connections is full: the kernel drops the next ones' SYNs.
    with socket.socket() as server, contextlib.ExitStack() as queued:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        for _ in range(4):
            waiting = queued.enter_context(socket.socket())
            waiting.setblocking(False)
            waiting.connect_ex(server.getsockname())
        settings.OPENAI_BASE_URL = f"http://127.0.0.1:{server.getsockname()[1]}/v1"
        error = asyncio.run(failure())

    assert error.reason == ProviderError.TIMEOUT
    assert "did not answer within 1 seconds" in error.message


def test_a_connection_reset_in_the_middle_of_the_answer_is_a_cut(settings):
    settings.OPENAI_API_KEY = "sk-test-not-a-real-key"
    settings.AI_MAX_RETRIES = 0
    chunk = b'data: {"choices":[{"delta":{"content":"Hello "}}]}\n\n'
    head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        settings.OPENAI_BASE_URL = f"http://127.0.0.1:{server.getsockname()[1]}/v1"

        def answer_then_reset() -> None:
            peer, _ = server.accept()
            peer.recv(65536)
            peer.sendall(head + b"%x\r\n%s\r\n" % (len(chunk), chunk))
            time.sleep(0.2)  # the client has read the text by now
            # A reset rather than an orderly close: SO_LINGER with a time of 0.
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            peer.close()

        thread = threading.Thread(target=answer_then_reset)
        thread.start()
        error = asyncio.run(failure())
        thread.join()

    assert "cut off" in error.message
