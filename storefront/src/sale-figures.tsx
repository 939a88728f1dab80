/** A sale's live figures: units left (with a bar) and the countdown on the server's clock. */
import { formatCountdown, serverNow } from './clock';
import { useTick } from './hooks';
import type { FlashSale } from './types';

export function saleStatusNow(sale: FlashSale): FlashSale['status'] {
  const now = serverNow();
  if (sale.status === 'ended' || now >= Date.parse(sale.endsAt)) return 'ended';
  if (now < Date.parse(sale.startsAt)) return 'upcoming';
  return sale.status === 'upcoming' ? 'live' : sale.status;
}

export function SaleFigures({ sale, idPrefix }: { sale: FlashSale; idPrefix: string }) {
  useTick(250);
  const status = saleStatusNow(sale);
  const soldOut = sale.remaining <= 0 && status !== 'upcoming';
  const until = status === 'upcoming' ? Date.parse(sale.startsAt) : Date.parse(sale.endsAt);
  return (
    <div class="sale-figures">
      {soldOut
        ? <p class="sold-out" data-testid="sold-out">Sold out</p>
        : (
          <p class="remaining">
            <label for={`${idPrefix}-left`}><strong data-testid="remaining">{sale.remaining}</strong> of {sale.quantity} left</label>
            <progress id={`${idPrefix}-left`} max={sale.quantity} value={sale.remaining} />
          </p>
        )}
      <p class="countdown">
        {status === 'upcoming' && <>Starts in <time data-testid="countdown">{formatCountdown(until - serverNow())}</time></>}
        {(status === 'live' || status === 'paused') && <>Ends in <time data-testid="countdown">{formatCountdown(until - serverNow())}</time></>}
        {status === 'paused' && <span class="tag">Paused</span>}
        {status === 'ended' && <span>This sale has ended</span>}
      </p>
      <p class="limit muted">Limit {sale.perUserLimit} per customer</p>
    </div>
  );
}
