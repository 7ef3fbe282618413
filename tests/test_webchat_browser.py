"""The web chat in a real headless Chromium (Debian's): type Arabic, read an RTL answer."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from bot.content import ContentStore

pytestmark = [pytest.mark.rasa, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def page(stack) -> Iterator[object]:  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        page.goto(stack.app_url)
        yield page
        browser.close()


def test_arabic_question_gets_a_right_to_left_arabic_answer(page, content: ContentStore) -> None:  # type: ignore[no-untyped-def]
    page.fill("#text", "مرحبا، بدي محامي ببلاش عندي قضية بالمحكمة")
    page.press("#text", "Enter")
    reply = page.locator("li.msg.bot").first
    reply.wait_for(timeout=30_000)
    expected = content.render("utter_legal_aid_info", "ar").text
    bubble = reply.locator(".bubble")
    assert bubble.inner_text().replace("\u00a0", "").split() == expected.split()
    assert reply.get_attribute("lang") == "ar"
    assert bubble.evaluate("e => getComputedStyle(e).direction") == "rtl"
    # the page itself switches to the conversation's language and direction
    assert page.evaluate("document.documentElement.dir") == "rtl"
    assert (
        page.get_attribute("#text", "placeholder")
        == content.render("msg_webchat_placeholder", "ar").text
    )


def test_language_button_switches_to_persian(page, content: ContentStore) -> None:  # type: ignore[no-untyped-def]
    before = page.locator("li.msg.bot").count()
    page.click("button[data-lang=fa]")
    page.locator("li.msg.bot").nth(before).wait_for(timeout=30_000)
    confirmation = page.locator("li.msg.bot").nth(before)
    assert confirmation.get_attribute("lang") == "fa"
    assert (
        confirmation.locator(".bubble").inner_text().strip()
        == content.render("utter_language_changed", "fa").text
    )
