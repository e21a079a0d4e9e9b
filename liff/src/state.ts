// What /api/liff/me answered, shared by the screens.
export interface Tier {
  id: number;
  name: string;
  threshold: number;
  color: string;
  benefits: string;
}

export interface Me {
  linked: boolean;
  shop: { name: string; domain: string };
  currency: string;
  profile: { name: string; picture: string | null };
  member_number: string | null;
  member_since?: string;
  customer_name?: string;
  tier: Tier | null;
  next_tier?: (Tier & { remaining: number }) | null;
  progress?: number;
  spend?: number;
  tier_window?: string;
  tiers?: Tier[];
  points: {
    balance: number;
    expiring: { points: number; at: string } | null;
    earn_points_per_100: number;
  } | null;
  subscriber: { active: boolean };
  link: { url: string; bonus_points: number; coupons: string[] };
}

export const state: { me: Me | null } = { me: null };
