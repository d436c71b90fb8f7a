//! The fallback chain: which sources answer a request of each kind, in order. Later sources
//! fill what earlier ones could not (empty keys, filtered products), so a request is answered
//! even with an empty Redis.

use uuid::Uuid;

/// What the client asks for.
pub use kit::contracts::recommendations::RecommendationKind as Kind;
use kit::contracts::recommendations::RecommendationSource;

/// Where candidates come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `rec:user:{id}:personalized`.
    Personalized(Uuid),
    /// `rec:product:{id}:similar`.
    Similar(Uuid),
    /// Neighbours of the user's recently viewed items (`rec:user:{id}:recent`).
    RecentlyViewed(Uuid),
    /// `rec:trending`.
    Trending,
    /// `rec:popular`.
    Popular,
    /// The newest active products of the catalog.
    Newest,
}

impl Source {
    /// The `source` reported on each item.
    pub fn source(self) -> RecommendationSource {
        match self {
            Source::Personalized(_) => RecommendationSource::Personalized,
            Source::Similar(_) => RecommendationSource::Similar,
            Source::RecentlyViewed(_) => RecommendationSource::RecentlyViewed,
            Source::Trending => RecommendationSource::Trending,
            Source::Popular => RecommendationSource::Popular,
            Source::Newest => RecommendationSource::Newest,
        }
    }
}

/// The sources of a request, in order: personalized -> similar (to the product shown) ->
/// similar to recently viewed -> trending -> popular -> newest, starting at `kind`.
pub fn chain(kind: Kind, user: Option<Uuid>, product: Option<Uuid>) -> Vec<Source> {
    let mut out = Vec::new();
    if kind == Kind::Personalized
        && let Some(u) = user
    {
        out.push(Source::Personalized(u));
    }
    if matches!(kind, Kind::Personalized | Kind::Similar) {
        if let Some(p) = product {
            out.push(Source::Similar(p));
        }
        if let Some(u) = user {
            out.push(Source::RecentlyViewed(u));
        }
    }
    if kind != Kind::Popular {
        out.push(Source::Trending);
    }
    out.push(Source::Popular);
    out.push(Source::Newest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_fall_back_in_the_documented_order() {
        let (u, p) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            chain(Kind::Personalized, Some(u), Some(p)),
            [
                Source::Personalized(u),
                Source::Similar(p),
                Source::RecentlyViewed(u),
                Source::Trending,
                Source::Popular,
                Source::Newest
            ]
        );
        assert_eq!(
            chain(Kind::Personalized, None, None),
            [Source::Trending, Source::Popular, Source::Newest]
        );
        assert_eq!(
            chain(Kind::Similar, None, Some(p)),
            [
                Source::Similar(p),
                Source::Trending,
                Source::Popular,
                Source::Newest
            ]
        );
        assert_eq!(
            chain(Kind::Popular, Some(u), None),
            [Source::Popular, Source::Newest]
        );
    }
}
