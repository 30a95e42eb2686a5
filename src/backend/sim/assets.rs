//! The demo catalog, embedded: Backstage descriptors of the fictional Northwind company.
//! The loader resolves `DEMO_ROOT` (a Location) and its relative targets against these
//! virtual paths.

/// The Location that fans out to every other demo file.
pub const DEMO_ROOT: &str = "demo/all.yaml";

/// Every demo descriptor file as (virtual path, contents).
pub fn demo_sources() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "demo/all.yaml",
            include_str!("../../../assets/demo/catalog/all.yaml"),
        ),
        (
            "demo/org.yaml",
            include_str!("../../../assets/demo/catalog/org.yaml"),
        ),
        (
            "demo/domains-systems.yaml",
            include_str!("../../../assets/demo/catalog/domains-systems.yaml"),
        ),
        (
            "demo/components.yaml",
            include_str!("../../../assets/demo/catalog/components.yaml"),
        ),
        (
            "demo/apis.yaml",
            include_str!("../../../assets/demo/catalog/apis.yaml"),
        ),
        (
            "demo/resources.yaml",
            include_str!("../../../assets/demo/catalog/resources.yaml"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_is_a_backstage_document() {
        let sources = demo_sources();
        assert!(sources.iter().any(|(p, _)| *p == DEMO_ROOT));
        for (path, text) in sources {
            assert!(
                text.contains("apiVersion: backstage.io/v1alpha1"),
                "{path} has no descriptor"
            );
        }
    }
}
