//! The Debian package's recipe (`[package.metadata.deb]` in Cargo.toml)
//! stays in step with the repository: every asset it names exists, every
//! manual page and the bash, zsh and fish completions go where Debian looks
//! for them, and the binary goes to /usr/bin. Building and unpacking the
//! package itself is `scripts/package-deb` (a release build, too slow for
//! every test run).

use std::path::Path;

fn assets() -> Vec<(String, String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml")).expect("TOML");
    let deb = &manifest["package"]["metadata"]["deb"];
    deb["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .map(|a| {
            let part = |i: usize| a[i].as_str().expect("an asset is three strings").to_owned();
            (part(0), part(1), part(2))
        })
        .collect()
}

#[test]
fn the_package_recipe_names_existing_files_where_debian_looks_for_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let assets = assets();
    let target = |source: &str| assets.iter().find(|a| a.0 == source).map(|a| (a.1.as_str(), a.2.as_str()));
    assert_eq!(target("target/release/leadctl"), Some(("usr/bin/", "755")));
    assert_eq!(target("man/leadctl*.1"), Some(("usr/share/man/man1/", "644")));
    let wanted = [
        ("completions/leadctl.bash", "usr/share/bash-completion/completions/leadctl"),
        ("completions/_leadctl", "usr/share/zsh/vendor-completions/_leadctl"),
        ("completions/leadctl.fish", "usr/share/fish/vendor_completions.d/leadctl.fish"),
        ("README.md", "usr/share/doc/leadctl/README.md"),
        ("LICENSE-MIT", "usr/share/doc/leadctl/LICENSE-MIT"),
        ("LICENSE-APACHE", "usr/share/doc/leadctl/LICENSE-APACHE"),
    ];
    for (source, dest) in wanted {
        assert_eq!(target(source), Some((dest, "644")), "{source}");
    }
    for (source, _, _) in assets.iter().filter(|a| !a.0.starts_with("target/") && !a.0.contains('*')) {
        assert!(root.join(source).is_file(), "{source} is in the package but not in the repository");
    }
    let pages = std::fs::read_dir(root.join("man")).expect("man/").count();
    assert!(pages >= 7, "man/ holds {pages} pages");
}
