"""The browser demo in headless Chromium: a fake microphone playing jfk.wav, a real server and model.

Chromium and its driver come from Debian (``scripts/setup_env.sh test``
installs them); without them these tests fail rather than skip.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from support import read_wav, wav_bytes

#: Generous bounds for a loaded 2-core machine; a working page needs a fraction.
RESULT_WAIT_SECONDS = 120


@pytest.fixture(scope="module")
def microphone(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """jfk.wav then 3 s of silence (Chromium loops the file; the pause ends each utterance)."""
    audio, rate = read_wav(testdata / "jfk.wav")
    path = tmp_path_factory.mktemp("mic") / "jfk-pause.wav"
    path.write_bytes(wav_bytes(np.concatenate([audio, np.zeros(3 * rate, np.float32)]), rate))
    return path


def chromium(microphone: Path, profile: Path, *extra: str) -> webdriver.Chrome:
    """Headless Chromium whose microphone plays ``microphone``, permission granted."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver, "install Debian's chromium and chromium-driver (setup_env.sh test)"
    options = Options()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                     "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-audio-capture={microphone}", *extra):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


@pytest.fixture
def browser(microphone: Path, tmp_path: Path) -> Iterator[webdriver.Chrome]:
    driver = chromium(microphone, tmp_path / "profile")
    yield driver
    driver.quit()


def text_of(driver: webdriver.Chrome, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def wait_for(driver: webdriver.Chrome, element_id: str, needle: str) -> str:
    """Wait until the element's text contains ``needle`` (case-insensitive); its text."""
    WebDriverWait(driver, RESULT_WAIT_SECONDS).until(
        lambda d: needle.lower() in text_of(d, element_id).lower()
        or not d.find_element(By.ID, "error").get_attribute("hidden"),
        message=f"#{element_id} never showed {needle!r}")
    assert driver.find_element(By.ID, "error").get_attribute("hidden"), text_of(driver, "error")
    return text_of(driver, element_id)


def run_demo(driver: webdriver.Chrome, page: str, token: str, speakers: bool = True) -> None:
    """Open the page, start with ``token``, expect JFK's words (and S1 when the server labels
    ``speakers``), stop, expect a clean close."""
    driver.get(page)
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "start").click()
    finals = wait_for(driver, "finals", "country")
    lines = finals.splitlines()
    assert any(line.startswith("00:0") for line in lines), f"times are shown: {finals!r}"
    if speakers:
        assert "S1" in finals, f"the speaker is shown: {finals!r}"
        speaker = driver.find_element(By.CSS_SELECTOR, "#finals .speaker")
        assert "sp1" in speaker.get_attribute("class"), "S1 has its colour class"
        talk = wait_for(driver, "talk", "S1 00:")  # talk time from the live speaker timeline
        assert "(100 %)" in talk, f"one voice: {talk!r}"
    driver.find_element(By.ID, "stop").click()
    status = wait_for(driver, "status", "closed 1000")
    assert "session ended (client_end)" in status


def test_demo_transcribes_the_microphone(server, token, browser):
    run_demo(browser, server.http + "/", token)


def test_demo_explains_a_refused_token(server, browser):
    browser.get(server.http + "/#token=not-a-jwt")
    assert browser.current_url == server.http + "/", "the token is taken out of the address bar"
    browser.find_element(By.ID, "start").click()
    WebDriverWait(browser, RESULT_WAIT_SECONDS).until(
        lambda d: "invalid_token" in text_of(d, "error"), message="the refusal is explained")
    assert "HTTP 401" in text_of(browser, "error")
    assert "1006" in text_of(browser, "status")
