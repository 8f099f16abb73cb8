"""The recipe graph drawn as SVG: well-formed XML with one node per module and data name, escaped text."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from photonflow.recipes import parse_recipe, recipe_to_svg

SVG = "{http://www.w3.org/2000/svg}"


def test_svg_is_well_formed_with_a_node_per_module_and_name() -> None:
    recipe = parse_recipe(
        """
- FilterTable: {input: input, output: filtered, filters: {x_err: [0, 30]}}
- DriftCorrection: {input: filtered, output: corrected, output_drift: drift}
- Render: {input: corrected}
- SaveImage: {input: image}
- SaveCSV: {input: drift, file_pattern: '{output_dir}/<&>.csv'}
"""
    )
    root = ET.fromstring(recipe_to_svg(recipe))
    assert root.tag == f"{SVG}svg"
    groups = root.findall(f"{SVG}g")
    keys = {g.get("data-key"): g for g in groups}
    assert set(keys) == {"m:0", "m:1", "m:2", "m:3", "m:4", "d:input", "d:filtered", "d:corrected", "d:drift",
                         "d:image"}  # fmt: skip
    assert keys["d:input"].get("class") == "external"
    assert keys["m:3"].get("class") == "module output"
    assert keys["m:1"].findtext(f"{SVG}text") == "2. DriftCorrection"
    assert "<&>.csv" in (keys["m:4"].findtext(f"{SVG}title") or "")  # escaped in the file, intact when parsed
    edges = root.findall(f"{SVG}path[@class='edge']")
    assert len(edges) == 9  # input→1→filtered→2→corrected,drift; corrected→3→image→4; drift→5
    xs = {k: float(g.find(f"{SVG}rect").get("x")) for k, g in keys.items()}  # type: ignore[union-attr]
    assert xs["d:input"] < xs["m:0"] < xs["d:filtered"] < xs["m:1"] < xs["d:corrected"] < xs["m:2"]
    width = float(root.get("width"))  # type: ignore[arg-type]
    assert all(float(g.find(f"{SVG}rect").get("x")) < width for g in groups)  # type: ignore[union-attr]


def test_svg_of_a_single_module_recipe() -> None:
    root = ET.fromstring(recipe_to_svg(parse_recipe("- Render: {}")))
    assert len(root.findall(f"{SVG}g")) == 3 and len(root.findall(f"{SVG}path[@class='edge']")) == 2
