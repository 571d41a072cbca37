"""t.to_html(path): one self-contained page stepping through forward and backward, tried in a real browser.

The browser test drives Debian's chromium through chromedriver with Selenium (dev extra);
.ci/run installs both with apt. Without them it is skipped with the reason. Each run keeps
a screenshot of the page mid-backward in its pytest tmp folder (printed with -s).
"""
import re
import shutil

import numpy as np
import pytest

import tinygrad_opt as tg


def micrograd_trace():
    a = tg.Tensor([3.0], requires_grad=True)
    b = tg.Tensor([2.0], requires_grad=True)
    with tg.trace() as t:
        c = a * b
        d = c * a + a ** 3
        loss = (d * 2.0).sum()
        loss.backward()
    return t


def test_page_is_one_self_contained_file(tmp_path):
    path = micrograd_trace().to_html(tmp_path / "page.html", title="a <b> & c")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and "<script>" in text
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#)""", text), "the page loads something from outside"
    assert "<link" not in text and "@import" not in text
    assert "a &lt;b&gt; &amp; c" in text  # the title is escaped
    urls = set(re.findall(r"https?://[^\s\"']+", text))
    assert urls <= {"http://www.w3.org/2000/svg"}  # the SVG namespace names, it fetches nothing


def test_page_without_a_forward_pass_says_what_to_do(tmp_path):
    x = tg.Tensor([1.0], requires_grad=True)
    y = (x * 3.0).sum()
    with tg.trace() as t:
        y.backward()
    with pytest.raises(ValueError, match="run the forward pass inside"):
        t.to_html(tmp_path / "page.html")


def _browser_and_driver():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is needed (pip install -e '.[dev]')")
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                   None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("needs chromium and chromedriver (Debian: apt-get install chromium chromium-driver)")
    return webdriver, browser, driver


@pytest.fixture
def browser():
    webdriver, binary, driver_path = _browser_and_driver()
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                "--window-size=1400,800"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


def test_stepping_through_the_page_in_a_browser(browser, tmp_path):
    from selenium.webdriver.common.by import By

    path = micrograd_trace().to_html(tmp_path / "page.html")
    browser.get(path.as_uri())
    text = lambda element_id: browser.find_element(By.ID, element_id).text  # noqa: E731
    classes = lambda element_id: browser.find_element(By.ID, element_id).get_attribute("class")  # noqa: E731
    nxt, back = browser.find_element(By.ID, "next"), browser.find_element(By.ID, "back")

    assert text("counter").startswith("step 0 / 12")  # 6 forward ops, 6 backward steps
    assert not back.is_enabled() and text("data-#1") == "data ?" and text("data-v1") == "data [3.0]"
    seen = {}
    for step in range(1, 13):
        nxt.click()
        seen[step] = {"title": text("title"), "formula": text("formula"), "outs": text("outs"),
                      "grad_a": text("grad-v1"), "current": browser.find_elements(By.CSS_SELECTOR, ".current")}
        if step == 9:
            browser.save_screenshot(str(tmp_path / "trace_page.png"))
    assert not nxt.is_enabled()
    # forward 1: c = a * b, computed and highlighted
    assert seen[1]["title"].startswith("Forward 1/6: Mul computes c=#1")
    assert seen[1]["formula"] == "out = a * b" and "[6.0]" in seen[1]["outs"]
    # backward starts at the loss with dL/dL = 1; a's gradient then grows by += with each part
    assert seen[7]["title"].startswith("Backward 1/6: Sum")
    assert seen[8]["grad_a"] == "grad ?"
    assert seen[10]["grad_a"] == "grad [12.0]"  # Mul of c * a sent g * c = 12
    assert seen[11]["grad_a"] == "grad [24.0] = [12.0] + [12.0]"  # Mul of a * b sent g * b = 12
    assert seen[12]["grad_a"] == "grad [78.0] = [12.0] + [12.0] + [54.0]"  # Pow sent 3 a^2 g = 54
    assert "dL/da = g * 3.0 * a^(3.0-1)" in seen[12]["formula"]
    assert all(len(s["current"]) == 1 for s in seen.values())  # exactly one op is highlighted per step
    assert "current" in classes("op-3")  # the last step is Pow's backward
    back.click()
    assert text("counter").startswith("step 11 / 12") and text("grad-v1") == "grad [24.0] = [12.0] + [12.0]"
    assert "current" not in classes("op-3") and "current" in classes("op-1")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    shot = tmp_path / "trace_page.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"\nscreenshot: {shot}")
    np.testing.assert_allclose(float(seen[12]["grad_a"].split("[")[1].split("]")[0]), 78.0)


def test_the_cnn_page_steps_to_the_conv_gradient_and_shows_the_three_way_check(browser, tmp_path):
    """`tinygrad-opt trace --model cnn --html`: the last backward step is the convolution's, with its formulas;
    below the graph, each gradient by hand, by the engine and by finite differences."""
    from selenium.webdriver.common.by import By

    from tinygrad_opt.teach.conv_step import run_conv_step

    step = run_conv_step(seed=1)
    path = step.trace.to_html(tmp_path / "conv.html", title="a tiny CNN", tables=step.check_tables())
    browser.get(path.as_uri())
    text = lambda element_id: browser.find_element(By.ID, element_id).text  # noqa: E731
    assert text("counter").startswith("step 0 / 12")  # 6 forward ops, 6 backward steps
    nxt = browser.find_element(By.ID, "next")
    for _ in range(12):
        nxt.click()
    assert text("title").startswith("Backward 6/6: Conv2d (of forward 1)")
    assert "dL/dx = full convolution of g with 0.weight flipped" in text("formula")
    assert "dL/d(0.weight) = correlation of x with g" in text("formula")
    assert "current" in browser.find_element(By.ID, "op-1").get_attribute("class")
    captions = [c.text for c in browser.find_elements(By.CSS_SELECTOR, ".check-caption")]
    assert len(captions) == 5 and all(c.endswith("the three agree") for c in captions)
    assert captions[0].startswith("dL/dWc (0.weight, shape (2, 1, 3, 3)) three ways (by hand: the correlation of x")
    assert "(by hand: the full convolution of delta with the flipped kernel)" in captions[4]
    first_row = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "table.check tbody tr")[0]
                 .find_elements(By.TAG_NAME, "td")]
    assert first_row[0] == "Wc[0,0,0,0]" and float(first_row[1]) == pytest.approx(float(first_row[2]), rel=1e-5)
    browser.execute_script("document.getElementById('checks').scrollIntoView()")
    browser.save_screenshot(str(tmp_path / "conv_page.png"))
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    print(f"\nscreenshot: {tmp_path / 'conv_page.png'}")
